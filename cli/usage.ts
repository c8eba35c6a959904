/**
 * The exit codes and usage texts of the command line.
 *
 * @module
 */

/**
 * The exit codes of the command line.
 *
 * | code | meaning |
 * | --- | --- |
 * | 0 | success (`serve`: stopped by SIGINT/SIGTERM) |
 * | 1 | the remote method failed (`call`: the remote traceback is on stderr), the Manager refused the `--token` (`ping`, `stats`), or `serve` could not start (module, class or address) |
 * | 2 | unreachable: connection refused, lost or TLS refused, or no such agent in the container |
 * | 3 | timeout: no reply within `--timeout` seconds |
 * | 64 | bad usage (the problem and a hint are on stderr) |
 *
 * @example
 * ```ts
 * import { ExitCode } from "@aiomas/aiomas/cli";
 * console.log(ExitCode.Unreachable); // 2
 * ```
 */
export const ExitCode = {
  /** Success. */
  Ok: 0,
  /** The remote method failed, the Manager refused the token, or `serve` could not start. */
  Failure: 1,
  /** Connection refused or lost, TLS refused, or no such agent. */
  Unreachable: 2,
  /** No reply within `--timeout` seconds. */
  Timeout: 3,
  /** Bad command line usage (as sysexits' `EX_USAGE`). */
  Usage: 64,
} as const;

/** The program name used in messages. */
export const PROGRAM = "aiomas";

const COMMON_HELP = `

Connection options:
  --codec json|msgpack|msgpack-blosc   the container's codec (default: json)
  --tls-ca FILE      root CA certificate (PEM): enables TLS with mutual authentication
  --tls-cert FILE    this side's certificate (PEM), signed by the CA
  --tls-key FILE     this side's private key (PEM, unencrypted)
  --token SECRET     the Manager's shared secret (default: $AIOMAS_TOKEN)
  -h, --help         show this help`;

/** What `aiomas --help` prints. */
export const TOP_USAGE = `Usage: ${PROGRAM} <command> [options]

Commands:
  serve ADDR --agent ./file.ts#Class [--count N]   start a container with agents
  call AGENT_ADDR METHOD [ARGS...] [--kw k=v]...   call an agent's exposed method
  ping ADDR                                        measure a container's round-trip time
  stats ADDR [--json] [--watch S]                  show a container's agents, links and calls

Run "${PROGRAM} <command> --help" for a command's options.

Exit codes: 0 ok, 1 remote error (call) or start failure (serve), 2 unreachable or
no such agent, 3 timeout, 64 bad usage.`;

/** What `aiomas serve --help` prints. */
export const SERVE_USAGE = `Usage: ${PROGRAM} serve ADDR --agent MODULE[#Export] [options]

Start a container on ADDR (tcp://host:port, port 0 for any free port, or
ipc://[path] for a Unix socket), create agents, print one agent address per
line on stdout, log connections and errors on stderr, and run until SIGINT,
SIGTERM or the Manager's stop() (exit 0).

The container's first agent (id 0) is a Manager: "call ADDR/0 spawn SPEC",
"call ADDR/0 setTime T" (external clock) and "call ADDR/0 stop". The agents
made with --agent get the ids 1, 2, ...; only their addresses are printed.
Choose who may steer the Manager: --token SECRET (or AIOMAS_TOKEN; callers
pass the same --token), TLS (every client has a certificate of the CA), or
--open (anyone who can connect: unsafe on untrusted networks). Other agents
answer every client.

MODULE is a path relative to the working directory (or a URL, jsr: or npm:
specifier); #Export names the agent class, the default export if omitted.
Each agent is made with "await Class.create(container)" if the class has a
static create() method, else with "new Class(container)".

Options:
  --agent MODULE[#Export]   agent class to instantiate (repeatable)
  --count N                 agents of each class (default: 1)
  --clock realtime|external the container's clock (default: realtime)
  --start-date ISO          start date of the external clock (default: now)
  --open                    anyone may steer the Manager (unsafe on untrusted networks)
  --inspect HOST:PORT       serve the live view there (port 0: any free port); off
                            loopback it needs --token, which the page URL then carries${COMMON_HELP}`;

/** What `aiomas call --help` prints. */
export const CALL_USAGE = `Usage: ${PROGRAM} call AGENT_ADDR METHOD [ARGS...] [options]

Call METHOD of the agent at AGENT_ADDR (tcp://host:port/<id>) and print the
result as one line of JSON on stdout. METHOD may be a path into a sub-service
("sub/method"). With a container address ending in "/", METHOD is a path from
the container's root service (e.g. "validate_aid" or "agents/0/add").

Each ARG and each --kw value is parsed as JSON if it parses, else taken as a
string: 1 is a number, '"1"' a string, '[1, 2]' a list, spam the string "spam".
Put negative numbers anywhere (-1 is an argument, not an option) and use "--"
before arguments that start with "--".

Printing: dates as ISO 8601 strings (UTC), 64-bit integers (bigint) as decimal
strings, bytes as base64 strings, remote references as "<proxy PATH>".

Options:
  --kw KEY=VALUE     keyword argument for the method (repeatable)
  --timeout S        give up after S seconds without a reply (exit 3)
  --wait S           retry a refused connection or an unknown agent id for up to S
                     seconds (default: 0)
  --tls-hostname H   name the server's certificate must be valid for
  (--token: authenticate to the Manager before calling agent 0)${COMMON_HELP}

Exit codes: 0 ok, 1 the method raised (remote traceback on stderr),
2 unreachable or no such agent, 3 timeout, 64 bad usage.`;

/** What `aiomas stats --help` prints. */
export const STATS_USAGE = `Usage: ${PROGRAM} stats ADDR [options]

Ask the Manager of the container at ADDR (tcp://host:port/ or an agent address)
for its figures and print them: agents, connections (bytes in and out, queued
bytes, pending calls), calls in and out by path (count, errors, p50 and p99
latency) and the clock's pending timers. The Manager answers only callers
that may steer it: pass --token (or use TLS) as for "call ADDR/0 ...".

Options:
  --json             print the figures as one line of JSON
  --watch S          print them again every S seconds, like top (stop with Ctrl-C)
  --timeout S        give up after S seconds without a reply (default: 5; exit 3)
  --wait S           retry a refused connection for up to S seconds (default: 0)
  --tls-hostname H   name the server's certificate must be valid for${COMMON_HELP}

Exit codes: 0 ok, 1 the Manager refused (e.g. a wrong token), 2 unreachable,
3 timeout, 64 bad usage.`;

/** What `aiomas ping --help` prints. */
export const PING_USAGE = `Usage: ${PROGRAM} ping ADDR [options]

Connect to the container at ADDR (tcp://host:port/ or an agent address
tcp://host:port/<id>), call its validate_aid() and print the round-trip time
in milliseconds. With an agent address, the agent must exist (its class name
is printed too).

Options:
  --timeout S        give up after S seconds (default: 5; exit 3)
  --wait S           retry a refused connection for up to S seconds (default: 0)
  --tls-hostname H   name the server's certificate must be valid for${COMMON_HELP}

Exit codes: 0 ok, 1 the Manager refused the --token, 2 unreachable or no such
agent, 3 timeout, 64 bad usage.`;
