/** What the workflow needs from git: the truth about a remote branch, to verify the agent's result line. */
export interface GitGateway {
  /** The commit the remote branch points at, or undefined when the branch does not exist. */
  branchHead(repoUrl: string, branch: string): Promise<string | undefined>;
}

/**
 * The remote could not be read. `retryable` is false when retrying cannot help (the credentials are refused,
 * the repository does not exist or is not readable with them): the task fails at once with the fix.
 */
export class GitRemoteError extends Error {
  constructor(message: string, readonly retryable: boolean) {
    super(message);
    this.name = 'GitRemoteError';
  }
}
