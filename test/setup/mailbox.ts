import { installMailbox } from "../helpers/mailbox";

// Every test file: mail the Worker sends reaches the stand-in for Resend, never the network.
installMailbox();
