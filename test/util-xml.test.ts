import { DOMParser, type Document } from '@xmldom/xmldom';
import t from 'tap';
import { element, escapeAttribute, escapeText, renderXml } from '../src/util/xml.js';

function parse(text: string): Document {
  return new DOMParser({
    // A warning (such as U+FFFD in the text) is not a parse failure.
    onError: (level, message) => {
      if (level !== 'warning') throw new Error(`XML ${level}: ${message}`);
    },
  }).parseFromString(text, 'text/xml');
}

void t.test('xml escapes markup characters', (t) => {
  t.equal(escapeText('a < b && c > d'), 'a &lt; b &amp;&amp; c &gt; d');
  t.equal(escapeAttribute('say "hi"\tnow\n'), 'say &quot;hi&quot;&#9;now&#10;');
  t.end();
});

void t.test('xml replaces characters it cannot carry', (t) => {
  t.equal(escapeText('bell\u0007 nul\u0000 lone\uD800 ok\uD83D\uDE00'), 'bell\uFFFD nul\uFFFD lone\uFFFD ok\uD83D\uDE00');
  t.end();
});

void t.test('xml round trip through a parser', (t) => {
  const hostile = 'x"y\'z<&>\u0001]]>\n';
  const document = parse(renderXml(element('root', { xmlns: 'urn:test', name: hostile, skipped: undefined }, element('item', { id: 1 }, hostile), element('empty'))));
  const root = document.documentElement;
  if (root === null) throw new Error('no root element');
  t.equal(root.getAttribute('name'), hostile.replace('\u0001', '\uFFFD'), 'attribute value survives');
  t.equal(root.hasAttribute('skipped'), false, 'undefined attribute left out');
  t.equal(root.getElementsByTagName('item')[0]?.textContent, hostile.replace('\u0001', '\uFFFD'), 'text survives');
  t.equal(root.getElementsByTagName('empty').length, 1, 'empty element');
  t.end();
});

void t.test('xml rejects invalid names', (t) => {
  t.throws(() => element('1abc'), /element name "1abc" is invalid/);
  t.throws(() => element('ok', { 'bad name': 'x' }), /attribute name "bad name"/);
  t.end();
});
