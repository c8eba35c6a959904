/**
 * Test helper: drive headless Chromium over the DevTools protocol (a
 * WebSocket), to load a page, wait for its scripts, read its DOM and take a
 * screenshot. Chromium comes from Debian (`apt-get install -y chromium`).
 *
 * @module
 */

/** Where Chromium is installed, or `undefined`. */
export const CHROMIUM: string | undefined = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
  .find((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  });

/** One page in a headless Chromium. */
export interface BrowserPage {
  /** Evaluate `expression` in the page and return its (JSON-able) value. */
  evaluate<T>(expression: string): Promise<T>;
  /** Poll `expression` until it is truthy, or throw after `seconds`. */
  waitFor(expression: string, seconds: number): Promise<void>;
  /** A PNG screenshot of the page. */
  screenshot(): Promise<Uint8Array>;
  /** Close the browser and remove its profile. */
  close(): Promise<void>;
}

/** Start headless Chromium showing `url` in a `width` x `height` window. */
export async function openPage(url: string, width = 1400, height = 1000): Promise<BrowserPage> {
  const profile = await Deno.makeTempDir({ prefix: "aiomas-chromium-" });
  const child = new Deno.Command(CHROMIUM!, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--hide-scrollbars",
      "--remote-debugging-port=0",
      `--window-size=${width},${height}`,
      `--user-data-dir=${profile}`,
      "about:blank",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const close = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await child.status;
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  };
  try {
    const browserUrl = await devtoolsUrl(child.stderr);
    const port = new URL(browserUrl).port;
    const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as {
      type: string;
      webSocketDebuggerUrl: string;
    }[];
    const page = targets.find((target) => target.type === "page")!;
    const session = await connect(page.webSocketDebuggerUrl);
    await session.send("Page.enable");
    await session.send("Page.navigate", { url });
    const evaluate = async <T>(expression: string): Promise<T> => {
      const reply = await session.send("Runtime.evaluate", { expression, returnByValue: true });
      return (reply.result as { value: T }).value;
    };
    return {
      evaluate,
      async waitFor(expression, seconds) {
        const end = performance.now() + seconds * 1000;
        while (!(await evaluate<boolean>(`Boolean(${expression})`))) {
          if (performance.now() > end) throw new Error(`Timed out waiting for ${expression}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      },
      async screenshot() {
        const { data } = await session.send("Page.captureScreenshot", { format: "png" });
        return Uint8Array.from(atob(data as string), (c) => c.charCodeAt(0));
      },
      async close() {
        session.close();
        await close();
      },
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Read Chromium's stderr until it names its DevTools WebSocket, then drain it. */
async function devtoolsUrl(stderr: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`Chromium exited: ${text.slice(-1000)}`);
    text += value;
    const match = /DevTools listening on (ws:\/\/\S+)/.exec(text);
    if (match) {
      (async () => {
        while (!(await reader.read()).done) { /* drain */ }
      })().catch(() => {});
      return match[1]!;
    }
  }
}

interface Session {
  send(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>>;
  close(): void;
}

function connect(url: string): Promise<Session> {
  const socket = new WebSocket(url);
  const pending = new Map<number, PromiseWithResolvers<Record<string, unknown>>>();
  let nextId = 1;
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    const waiter = pending.get(message.id);
    if (waiter === undefined) return;
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(JSON.stringify(message.error)));
    else waiter.resolve(message.result);
  };
  socket.onclose = () => {
    for (const waiter of pending.values()) waiter.reject(new Error("DevTools connection closed"));
  };
  return new Promise((resolve, reject) => {
    socket.onerror = () => reject(new Error(`Cannot connect to ${url}`));
    socket.onopen = () =>
      resolve({
        send(method, params = {}) {
          const id = nextId++;
          const waiter = Promise.withResolvers<Record<string, unknown>>();
          pending.set(id, waiter);
          socket.send(JSON.stringify({ id, method, params }));
          return waiter.promise;
        },
        close: () => socket.close(),
      });
  });
}
