/**
 * A transport that runs nothing: it records every command the driver sends and answers from a script of replies,
 * so the driver's choice of scripts, deadlines and parsing can be tested without a host.
 */
import { execFileSync } from "node:child_process";
import { SshCommand, SshCommandError, SshEndpoint, SshResult, SshTransport } from "../../../engine/hosts/ssh/transport";

export interface SentCommand extends SshCommand {
  readonly endpoint: SshEndpoint;
}

/** A reply: stdout, or a failing exit code with stderr. */
export type FakeReply = string | { exitCode: number; stderr: string };

export class FakeTransport implements SshTransport {
  readonly sent: SentCommand[] = [];
  closed = false;
  /** Picks the reply for a command; default: empty stdout. */
  reply: (command: SentCommand) => FakeReply = () => "";

  async run(endpoint: SshEndpoint, command: SshCommand): Promise<SshResult> {
    const sent = { ...command, endpoint };
    this.sent.push(sent);
    const reply = this.reply(sent);
    if (typeof reply === "string") return { stdout: reply, stderr: "", elapsedMs: 1 };
    throw new SshCommandError(
      endpoint,
      command.what,
      "exit",
      `exit code ${reply.exitCode}: ${reply.stderr}`,
      reply.exitCode,
    );
  }

  close(): void {
    this.closed = true;
  }
}

/** `sh -n` (parse only) of a script: throws with the shell's complaint when it is not valid POSIX sh. */
export function assertParses(script: string): void {
  for (const shell of ["sh", "bash"]) {
    const args = shell === "bash" ? ["--posix", "-n"] : ["-n"];
    try {
      execFileSync(shell, args, { input: script, stdio: ["pipe", "pipe", "pipe"] });
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? String(err);
      throw new Error(`${shell} -n rejects the script: ${stderr}\n---\n${script}`, { cause: err });
    }
  }
}
