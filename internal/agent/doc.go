// Package agent owns the host↔sandbox protocol: the server that runs inside
// every sandbox (in cmd/hookci-agent) and the client the host uses to drive it.
//
// # Transport
//
// The protocol is HTTP/2 cleartext with prior knowledge (no TLS, no upgrade)
// over exactly one byte stream: a unix socket (host and namespace sandboxes),
// a vsock connection, or a virtio-serial port. HTTP/2 multiplexes that one
// stream, so several Execs, file transfers and Info calls run at once.
//
// A unix socket or vsock connection carries HTTP/2 from its first byte
// (NewClient, Dial; Server.ServeConn, Server.Serve).
//
// A serial port is different: it has no connection boundaries, bytes of an
// earlier session can still be buffered in either direction, the guest opens
// the port long before the host connects, and reading it while no host is
// attached returns EOF again and again. So a serial stream starts every session
// with a line-based handshake (NewSerialClient, DialSerial; Server.ServeSerial):
//
//	host  → guest  1000×0xff "\nHOOKCI-HELLO <nonce>\n"  every 250 ms until answered
//	guest → host   "\nHOOKCI-READY <nonce>\n"   once per HELLO received
//	host  → guest  "\nHOOKCI-START <nonce>\n"
//	guest → host   "\nHOOKCI-GO <nonce>\n"      HTTP/2 starts with the next byte
//
// The nonce is fresh per host connection attempt ([0-9a-f]{32}); each side
// ignores every line (and any binary debris) that is not the line it waits for.
// A HELLO that arrives while an earlier session is still being served breaks
// that session: its padding reads as an HTTP/2 frame header announcing a
// frame larger than the server accepts, the server answers with GOAWAY
// (FRAME_SIZE_ERROR), and the guest ends the session on seeing that GOAWAY,
// exactly like a disconnect (processes of the abandoned session are killed);
// the guest then answers the new HELLO. EOF on the port (no host attached)
// also ends the session; the guest retries reading the port every 10 ms until
// a host attaches again.
//
// # Endpoints
//
// Requests use the host name "hookci-agent"; paths are absolute paths in the sandbox.
// Every response carries the header "Hookci-Agent-Version".
//
//	POST /exec            body: JSON ExecRequest {"argv":[...],"env":[...],"dir":"...",
//	                      "files":[{"path","data"(base64),"mode","from"}], "collect":["/path",...]}
//	                      "files" are written (parents created 0700) before the process starts;
//	                      a file with "from" takes over that file (renamed to "path", truncated,
//	                      rewritten: no new inode) when it is a regular file with one link,
//	                      else "from" is left alone and "path" is created;
//	                      "collect" names files read back after it exits.
//	                      200: body streams the process's stdout and stderr, interleaved
//	                      in write order (one pipe), flushed as written; trailers:
//	                        Hookci-Exit-Code: decimal exit code, -1 if killed by a signal
//	                        Hookci-Signal:    signal name ("SIGKILL") or empty
//	                        Hookci-Files:     base64 of a JSON object path → base64 content of
//	                                          the collected files that exist, when they total at
//	                                          most 256 KiB; otherwise "overflow" (read them with
//	                                          GET /files instead)
//	                      A program that cannot be started (not found, not executable)
//	                      is not a protocol error: the body carries the reason and the
//	                      exit code is 127 (not found) or 126 (cannot execute), like a shell.
//	PUT  /files?dir=D     body: tar stream, extracted under directory D (created if missing).
//	                      Entries naming an absolute path or ".." escaping D, and writes
//	                      through a symlink leading outside D, are refused with 400.
//	                      Symlink entries themselves are kept as written.
//	GET  /files?path=P    200: tar of P. For a directory, entry names are relative to P
//	                      (P itself is not an entry); for a file, one entry named base(P).
//	PUT  /file?path=P&mode=0644   body: the file's content; parents created (0755).
//	GET  /file?path=P     200: the file's content.
//	GET  /info            200: JSON Info {"version","os","arch","hostname","num_cpu"}.
//	POST /containers, DELETE /containers, POST /containers/conn
//	                      guest containers (ContainerStart): served only by a
//	                      microVM guest's agent (Server.ServeContainers,
//	                      hookci-agent --containers); every other agent answers 404.
//
// Errors are a non-2xx status with a JSON body {"error":"message"}: 400 for a
// bad request (including refused tar entries), 404 when a path does not exist,
// 500 when the agent failed. The client reports 404 as an error wrapping
// fs.ErrNotExist, other 4xx as plain errors, and 5xx, transport failures and
// a missing exit-status trailer as *InfraError.
//
// # Processes
//
// Each Exec runs argv in a new process group with exactly the given
// environment (nothing is inherited from the agent); argv[0] without a slash is
// looked up in the PATH of that environment (default
// /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin). Stdin is
// /dev/null. The response ends when the main process exits and its output has
// been drained; descendants it left running in the background keep running
// (GitHub keeps them until the job ends) and are killed by Server.Shutdown,
// which the agent runs when it is told to stop, and by the sandbox's Close.
//
// Cancellation: when the client cancels the request (the HTTP/2 stream is
// reset) or the connection ends, the agent sends SIGTERM to the process group,
// then SIGKILL after a grace period (1 s by default) to whatever is left of it.
package agent
