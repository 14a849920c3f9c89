/** What the workflow needs from git: the truth about a remote branch, to verify the agent's result line. */
export interface GitGateway {
  /** The commit the remote branch points at, or undefined when the branch does not exist. */
  branchHead(repoUrl: string, branch: string): Promise<string | undefined>;
}
