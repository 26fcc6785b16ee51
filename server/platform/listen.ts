// Starting a plain node:http(s) server (the side listeners: metrics, PAM issuer, Alertmanager proxy, userinfo proxy)
// and stopping it for good: close() also drops idle keep-alive connections, which server.close() alone would wait for.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Listening {
  /** The bound port (the one picked when asked for port 0). */
  port: number;
  close(): Promise<void>;
}

/** Listens on host:port; rejects on a listen error (port taken, bad address). */
export async function listen(server: Server, host: string | undefined, port: number): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
