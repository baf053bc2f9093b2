import { createMiddleware } from "hono/factory";
import { type AppEnv, readConfig } from "../env";
import { createServices } from "../services";

/** Puts the checked configuration and the service graph on the context for routes to use. */
export function provideServices() {
  return createMiddleware<AppEnv>(async function provideServices(c, next) {
    const config = readConfig(c.env);
    c.set("config", config);
    c.set("services", createServices(c.env, config));
    c.set("actor", null);
    await next();
  });
}
