import { rootCauseMessage } from "../lib/errors";
import { log } from "../lib/log";

type Consumer<Body> = (batch: MessageBatch<Body>) => Promise<void>;

type Outcome = { retry: false } | { retry: true; delaySeconds: number };

/**
 * A queue in process memory: the Queues binding's stand-in when the app runs as one Node process.
 * It keeps the producer's promise (send resolves once the message is accepted) and the consumer's
 * contract: ack or retry (after a delay), attempts counted, a consumer that throws has its batch
 * retried, and after `maxRetries` retries the message goes to `${name}-dlq` with the same id, as
 * wrangler.toml's dead_letter_queue. One message per batch. Messages live as long as the process:
 * a restart loses what is still queued (docs/deploy.md#mail says so).
 */
export function createMemoryQueue<Body>(
  name: string,
  consume: Consumer<Body>,
  { maxRetries = 5 } = {},
): Queue<Body> & { idle(): Promise<void> } {
  const pending = new Set<Promise<void>>();
  let sent = 0;

  function later(task: () => Promise<void>, delaySeconds: number) {
    const run = new Promise<void>((resolve) => {
      setTimeout(() => void task().finally(resolve), delaySeconds * 1000).unref();
    });
    pending.add(run);
    void run.finally(() => pending.delete(run));
  }

  function deliver(queue: string, id: string, body: Body, timestamp: Date, attempts: number, delaySeconds: number) {
    later(async () => {
      let outcome: Outcome = { retry: true, delaySeconds: 0 };
      const message: Message<Body> = {
        id,
        timestamp,
        body,
        attempts,
        ack: () => {
          outcome = { retry: false };
        },
        retry: (options) => {
          outcome = { retry: true, delaySeconds: options?.delaySeconds ?? 0 };
        },
      };
      const metrics = { backlogCount: pending.size, backlogBytes: 0 };
      try {
        await consume({
          queue,
          messages: [message],
          metadata: { metrics },
          ackAll: () => message.ack(),
          retryAll: (options) => message.retry(options),
        });
      } catch (error) {
        log("warn", "queue consumer failed; its batch is retried", { queue, error: rootCauseMessage(error) });
        outcome = { retry: true, delaySeconds: 0 };
      }
      // A message that is neither acked nor retried is done when its consumer returns (as on Cloudflare).
      if (!outcome.retry || queue !== name) return;
      if (attempts > maxRetries) deliver(`${name}-dlq`, id, body, timestamp, 1, 0);
      else deliver(queue, id, body, timestamp, attempts + 1, outcome.delaySeconds);
    }, delaySeconds);
  }

  const metrics = () => ({ backlogCount: pending.size, backlogBytes: 0 });

  const queue = {
    async send(body: Body, options?: QueueSendOptions): Promise<QueueSendResponse> {
      sent += 1;
      deliver(
        name,
        `${Date.now().toString(36)}-${sent}`,
        structuredClone(body),
        new Date(),
        1,
        options?.delaySeconds ?? 0,
      );
      return { metadata: { metrics: metrics() } };
    },
    async sendBatch(
      messages: Iterable<MessageSendRequest<Body>>,
      options?: QueueSendBatchOptions,
    ): Promise<QueueSendBatchResponse> {
      for (const message of messages) {
        await queue.send(message.body, { delaySeconds: message.delaySeconds ?? options?.delaySeconds });
      }
      return { metadata: { metrics: metrics() } };
    },
    async metrics(): Promise<QueueMetrics> {
      return metrics();
    },
    /** Resolves when nothing is queued or being delivered (tests, and a graceful shutdown). */
    async idle(): Promise<void> {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };
  return queue;
}
