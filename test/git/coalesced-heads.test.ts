import { coalesceBranchHeads, MAX_BRANCHES_PER_LISTING, type ListHeads } from '../../src/git/coalesced-heads';

/** A listing the test ends by hand: which branches it was asked, and the remote's heads it answers with. */
interface Listing {
  repoUrl: string;
  branches: string[];
  answer(heads: Record<string, string>): void;
  fail(err: Error): void;
}

function fakeRemote(): { list: ListHeads; listings: Listing[]; next(): Promise<Listing> } {
  const listings: Listing[] = [];
  let waiting: ((l: Listing) => void) | undefined;
  const list: ListHeads = (repoUrl, branches) =>
    new Promise((resolve, reject) => {
      const l: Listing = { repoUrl, branches, answer: (h) => resolve(new Map(Object.entries(h))), fail: reject };
      listings.push(l);
      waiting?.(l);
      waiting = undefined;
    });
  let seen = 0;
  return {
    list,
    listings,
    next: () => (listings.length > seen ? Promise.resolve(listings[seen++]!) : new Promise((r) => (waiting = (l) => (seen++, r(l))))),
  };
}

test('checks asked together are one listing; each gets its own branch, undefined when it does not exist', async () => {
  const remote = fakeRemote();
  const head = coalesceBranchHeads(remote.list);
  const answers = Promise.all(['a', 'b', 'gone', 'a'].map((b) => head('repo', b)));
  const l = await remote.next();
  expect(l.branches).toEqual(['a', 'b', 'gone']);
  l.answer({ a: 'sha-a', b: 'sha-b' });
  expect(await answers).toEqual(['sha-a', 'sha-b', undefined, 'sha-a']);
  expect(remote.listings).toHaveLength(1);
});

test('a check asked while a listing runs waits for the next one: its answer is read after it was asked', async () => {
  const remote = fakeRemote();
  const head = coalesceBranchHeads(remote.list);
  const first = head('repo', 'a');
  const l1 = await remote.next();
  // Asked after l1 started: l1 may have read the remote before this check's branch moved.
  const second = head('repo', 'a');
  const third = head('repo', 'b');
  l1.answer({ a: 'old' });
  expect(await first).toBe('old');
  const l2 = await remote.next();
  expect(l2.branches).toEqual(['a', 'b']);
  l2.answer({ a: 'new', b: 'sha-b' });
  expect([await second, await third]).toEqual(['new', 'sha-b']);
});

test('a failed listing fails the checks it answered, not the next ones', async () => {
  const remote = fakeRemote();
  const head = coalesceBranchHeads(remote.list);
  const first = head('repo', 'a');
  const l1 = await remote.next();
  const second = head('repo', 'a');
  l1.fail(new Error('git ls-remote repo failed: timed out'));
  await expect(first).rejects.toThrow('timed out');
  (await remote.next()).answer({ a: 'sha-a' });
  expect(await second).toBe('sha-a');
});

test('repositories are listed independently, and one listing asks for at most MAX_BRANCHES_PER_LISTING branches', async () => {
  const remote = fakeRemote();
  const head = coalesceBranchHeads(remote.list);
  const other = head('other', 'x');
  const many = Array.from({ length: MAX_BRANCHES_PER_LISTING + 20 }, (_, i) => head('repo', `t${i}`));
  const [lOther, l1] = [await remote.next(), await remote.next()];
  expect([lOther.repoUrl, lOther.branches]).toEqual(['other', ['x']]);
  expect([l1.repoUrl, l1.branches.length]).toEqual(['repo', MAX_BRANCHES_PER_LISTING]);
  lOther.answer({ x: 'sha-x' });
  expect(await other).toBe('sha-x');
  l1.answer(Object.fromEntries(l1.branches.map((b) => [b, `sha-${b}`])));
  const l2 = await remote.next();
  expect(l2.branches).toEqual(Array.from({ length: 20 }, (_, i) => `t${MAX_BRANCHES_PER_LISTING + i}`));
  l2.answer(Object.fromEntries(l2.branches.map((b) => [b, `sha-${b}`])));
  expect(await Promise.all(many)).toEqual(Array.from({ length: MAX_BRANCHES_PER_LISTING + 20 }, (_, i) => `sha-t${i}`));
});
