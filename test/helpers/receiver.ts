/**
 * A webhook receiver stand-in for the workerd tests: deliveries to https://receiver.example.com
 * (a public-looking name, so the URL policy lets it through) arrive here through the real local
 * queue and the Worker's fetch, as the HTTP request a receiver gets. Tests choose its answers.
 * (test/node/webhooks.test.ts uses a real HTTP server instead.)
 */
export const RECEIVER = "https://receiver.example.com";

export type Received = { url: string; headers: Record<string, string>; body: string };
type Answer = (request: Received) => { status: number; headers?: Record<string, string> };

type State = { received: Received[]; answer: Answer; installed: boolean };
const holder = globalThis as { __receiver?: State };
holder.__receiver ??= { received: [], answer: () => ({ status: 200 }), installed: false };
const state: State = holder.__receiver;

export function installReceiver() {
  if (state.installed) return;
  state.installed = true;
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const request = new Request(input, init);
    if (!request.url.startsWith(RECEIVER)) return realFetch(input, init);
    const received = {
      url: request.url,
      headers: Object.fromEntries(request.headers),
      body: await request.text(),
    };
    state.received.push(received);
    const { status, headers } = state.answer(received);
    return new Response(status === 204 ? null : "ok", { status, headers });
  };
}

export const receiver = {
  get received(): readonly Received[] {
    return state.received;
  },
  answer(answer: Answer) {
    state.answer = answer;
  },
  reset() {
    state.received.length = 0;
    state.answer = () => ({ status: 200 });
  },
};
