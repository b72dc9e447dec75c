/**
 * The stack's account guard (`aws:allowedAccountIds` or `aws:forbiddenAccountIds`) on the driver's side. The Pulumi
 * provider refuses to act in an account the guard excludes; the driver acts with credentials of its own (the profile,
 * the role chain), so it asks STS who it is (GetCallerIdentity, signed like its SSM and EC2 calls) before its first
 * call and refuses the same way, so a rollout can never reach instances in another account than the stack's.
 */
import { AwsSdkClient, loadSts } from "./sdk";

/** The accounts the driver may act in (one of the two, as the provider takes one). */
export interface AccountGuard {
  readonly allowedAccountIds?: ReadonlyArray<string>;
  readonly forbiddenAccountIds?: ReadonlyArray<string>;
}

/** Whether the guard says anything. */
export function hasAccountGuard(guard: AccountGuard): boolean {
  return Boolean(guard.allowedAccountIds?.length || guard.forbiddenAccountIds?.length);
}

/** Why acting in `account` is refused, naming the stack key and the fix; undefined when it is not. */
export function accountGuardProblem(account: string, arn: string, guard: AccountGuard): string | undefined {
  const who = `the rollout's AWS identity (${arn}, account ${account})`;
  const fix = "set the driver's identity (aws:profile, aws:assumeRoles) to the stack's account, or correct the list";
  if (guard.allowedAccountIds?.length && !guard.allowedAccountIds.includes(account))
    return `${who} is not in aws:allowedAccountIds (${guard.allowedAccountIds.join(", ")}): ${fix}`;
  if (guard.forbiddenAccountIds?.includes(account))
    return `${who} is in aws:forbiddenAccountIds (${guard.forbiddenAccountIds.join(", ")}): ${fix}`;
  return undefined;
}

/** The account and ARN STS says the client's credentials belong to. */
export async function callerIdentity(sts: AwsSdkClient): Promise<{ account: string; arn: string }> {
  const out = (await sts.send(new (loadSts().GetCallerIdentityCommand)({}))) as { Account?: string; Arn?: string };
  if (!out.Account) throw new Error("STS GetCallerIdentity returned no account");
  return { account: out.Account, arn: out.Arn ?? "?" };
}

/** `client`, whose every request first waits for `check` (which throws to refuse it). */
export function guardedClient(client: AwsSdkClient, check: () => Promise<void>): AwsSdkClient {
  return {
    send: async (command: object) => {
      await check();
      return client.send(command);
    },
  };
}
