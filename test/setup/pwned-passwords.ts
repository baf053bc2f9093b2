import { installPwnedPasswords } from "../helpers/pwned-passwords";

// Every test file: a breach check a test turns on reaches the stand-in for Pwned Passwords, never the network.
installPwnedPasswords();
