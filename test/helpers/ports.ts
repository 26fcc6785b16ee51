// A free TCP port on loopback for a test server that cannot listen on port 0 itself (a child process given a port).
import net from "node:net";

/** A port free now on 127.0.0.1 (the caller binds it soon after; nothing else in a test run races for it). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}
