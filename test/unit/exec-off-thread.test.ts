/** git runs from a worker thread (src/util/exec-off-thread.ts): the same answers as execFile gives. */
import { execFileOffThread, type ExecError } from '../../src/util/exec-off-thread';

it('output, an exit code with its stderr, a timeout kill and calls in parallel, as execFile reports them', async () => {
  expect(await execFileOffThread('sh', ['-c', 'printf out; printf err >&2'])).toEqual({ stdout: 'out', stderr: 'err' });
  const failed = await execFileOffThread('sh', ['-c', 'printf partial; echo refused >&2; exit 3']).catch((e: ExecError) => e);
  expect(failed).toBeInstanceOf(Error);
  expect(failed).toMatchObject({ code: 3, stdout: 'partial', stderr: 'refused\n', killed: false });
  const slow = await execFileOffThread('sleep', ['5'], { timeout: 200 }).catch((e: ExecError) => e);
  expect(slow).toMatchObject({ killed: true, signal: 'SIGTERM' });
  const missing = await execFileOffThread('no-such-command-sdlc', []).catch((e: ExecError) => e);
  expect(missing).toMatchObject({ code: 'ENOENT' });
  const env = { ...process.env, SDLC_PROBE: 'from the caller' };
  const many = await Promise.all(Array.from({ length: 8 }, (_, i) => execFileOffThread('sh', ['-c', `printf "%s $SDLC_PROBE" ${i}`], { env })));
  expect(many.map((r) => r.stdout)).toEqual(Array.from({ length: 8 }, (_, i) => `${i} from the caller`));
});
