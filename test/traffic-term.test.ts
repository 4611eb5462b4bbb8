import t from 'tap';
import { CLOSE_NORMAL, CLOSE_POLICY_VIOLATION } from '../src/protocol/envelope.js';
import { ErrorCode } from '../src/protocol/messages.js';
import { closeOf, joinAsMaster, startTrafficNode, type NodeHandle } from './fixtures/traffic-harness.js';

interface TermStatus {
  masterName: string;
  term: number;
  termMaster: string;
}

async function status(node: NodeHandle): Promise<TermStatus> {
  return (await node.request('status')) as TermStatus;
}

void t.test('master terms', async (t) => {
  const node = await startTrafficNode(t);

  await t.test('term belongs to its first master', async (t) => {
    const primary = await joinAsMaster(node, { masterName: 'master1', term: 4 });
    const rival = await joinAsMaster(node, { masterName: 'master2', term: 4 });
    const error = await rival.inbox.next('error');
    t.equal(error.error?.code, ErrorCode.ERROR_STALE_TERM, 'same term from another master rejected');
    t.match(error.error?.message ?? '', /term 4 belongs to master master1/, 'reason names the holder');
    t.equal((await closeOf(rival.inbox)).code, CLOSE_POLICY_VIOLATION, 'rival closed');
    t.ok(primary.inbox.channel.isOpen, 'holder keeps its link');
    const after = await status(node);
    t.equal(after.masterName, 'master1', 'status names the linked master');
    t.equal(after.termMaster, 'master1', 'status names the term holder');
    primary.inbox.channel.close();
    await closeOf(primary.inbox);
  });

  await t.test('newer term takes over', async (t) => {
    const former = await joinAsMaster(node, { masterName: 'master1', term: 4 });
    const successor = await joinAsMaster(node, { masterName: 'master2', term: 5 });
    t.equal((await closeOf(former.inbox)).code, CLOSE_NORMAL, 'former primary link closed');
    const after = await status(node);
    t.equal(after.term, 5, 'node follows the higher term');
    t.equal(after.masterName, 'master2', 'successor linked');

    const stale = await joinAsMaster(node, { masterName: 'master1', term: 4 });
    t.equal(stale.authOk.applianceAuthOk?.term, 5, 'former primary learns the newer term');
    const error = await stale.inbox.next('error');
    t.equal(error.error?.code, ErrorCode.ERROR_STALE_TERM, 'former primary rejected');
    successor.inbox.channel.close();
    await closeOf(successor.inbox);
  });

  await t.test('stale command on a live link', async (t) => {
    const master = await joinAsMaster(node, { masterName: 'master2', term: 5 });
    master.inbox.channel.send({ setAccepting: { accepting: false, term: 4 } });
    const error = await master.inbox.next('error');
    t.equal(error.error?.code, ErrorCode.ERROR_STALE_TERM, 'command with an older term rejected');
    t.equal((await closeOf(master.inbox)).code, CLOSE_POLICY_VIOLATION, 'link closed');
  });

  await t.test('term survives a restart', async (t) => {
    await node.restart();
    const after = await status(node);
    t.equal(after.term, 5, 'term kept');
    t.equal(after.termMaster, 'master2', 'holder kept');
  });
});
