import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { type AppEnv, readConfig } from "../env";
import { createServices } from "../services";

/** Puts the checked configuration and this request's service graph on the context. */
export function provideServices() {
  return createMiddleware<AppEnv>(async function provideServices(c, next) {
    const config = readConfig(c.env);
    c.set("config", config);
    c.set("services", createServices({ env: c.env, config, metrics: c.get("metrics"), defer: deferrer(c) }));
    c.set("actor", null);
    await next();
  });
}

// ctx.waitUntil where there is an execution context; otherwise the task just runs unawaited.
function deferrer(c: Context): (task: Promise<unknown>) => void {
  try {
    const ctx = c.executionCtx;
    return (task) => ctx.waitUntil(task);
  } catch {
    return (task) => void task;
  }
}
