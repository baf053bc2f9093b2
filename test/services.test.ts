import { d1Backend } from "./helpers/d1-backend";
import { serviceSuite } from "./suites/services.suite";

serviceSuite(d1Backend);
