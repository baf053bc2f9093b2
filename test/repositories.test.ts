import { d1Backend } from "./helpers/d1-backend";
import { repositorySuite } from "./suites/repositories.suite";

repositorySuite(d1Backend);
