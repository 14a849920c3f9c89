/**
 * A kube-apiserver that has just (re)started serves requests before its authentication and RBAC
 * caches are filled, and answers 401/403 for a few seconds to callers that are in fact allowed
 * (seen in the apiserver-restart test). A 401/403 is otherwise final ("fix the Role"), so we only
 * wait it out for a verb/resource this process has already been allowed to use: then a denial is
 * far more likely a warming-up apiserver than a Role revoked mid-run. A denial that outlasts the
 * window is thrown as it is.
 */
import { httpStatusOf, type ApiCallContext } from './errors';

const DENIED = new Set([401, 403]);

export class GrantMemory {
  private readonly granted: Set<string>;

  /**
   * `proven`: rights (`"get pods"`, `"get pods/log"`) a check already showed this identity has — the
   * worker's start check asks the API for each — so a denial of them is waited out from the first call
   * (a worker serving pods from its watch cache may make its first direct GET only after a restart).
   */
  constructor(
    private readonly windowMs = 20_000,
    proven: Iterable<string> = [],
  ) {
    this.granted = new Set(proven);
  }

  async call<T>(ctx: ApiCallContext, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const key = `${ctx.verb} ${ctx.resource}`;
    const deadline = Date.now() + this.windowMs;
    let delay = 200;
    for (;;) {
      try {
        const result = await fn();
        this.granted.add(key);
        return result;
      } catch (err) {
        const status = httpStatusOf(err);
        if (status === undefined || !DENIED.has(status) || !this.granted.has(key) || Date.now() + delay > deadline || signal?.aborted) throw err;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 2_000);
      }
    }
  }
}
