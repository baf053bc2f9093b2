import { d1Backend } from "./helpers/d1-backend";
import { auditSuite } from "./suites/audit.suite";

auditSuite(d1Backend);
