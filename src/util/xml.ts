/** One XML element: a name, attributes and children (elements or text). */
export interface XmlElement {
  name: string;
  attributes: Record<string, string | number>;
  children: XmlChild[];
}

export type XmlChild = XmlElement | string;

/** Attribute values; undefined leaves the attribute out. */
export type XmlAttributes = Record<string, string | number | undefined>;

const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9._-]*(:[A-Za-z_][A-Za-z0-9._-]*)?$/;
/** Characters XML 1.0 does not allow anywhere, even escaped: C0 controls other than tab, LF and CR, lone surrogates, U+FFFE and U+FFFF. */
// eslint-disable-next-line no-control-regex -- matching these control characters is the point.
const FORBIDDEN_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const INDENT = '  ';

/** Builds an element; undefined attributes are left out and undefined children skipped. */
export function element(name: string, attributes: XmlAttributes = {}, ...children: Array<XmlChild | undefined | XmlChild[]>): XmlElement {
  if (!NAME_PATTERN.test(name)) throw new Error(`XML element name ${JSON.stringify(name)} is invalid; expected letters, digits, ".", "_" or "-"`);
  const kept: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (!NAME_PATTERN.test(key)) throw new Error(`XML attribute name ${JSON.stringify(key)} on <${name}> is invalid`);
    if (value !== undefined) kept[key] = value;
  }
  return { name, attributes: kept, children: children.flat().filter((child): child is XmlChild => child !== undefined) };
}

/** Escapes text content: `&`, `<` and `>`, and replaces characters XML cannot carry with U+FFFD. */
export function escapeText(text: string): string {
  return text.replace(FORBIDDEN_CHARS, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Escapes an attribute value for double quotes; tab, LF and CR become character references so parsers keep them. */
export function escapeAttribute(value: string): string {
  return escapeText(value).replace(/"/g, '&quot;').replace(/\t/g, '&#9;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;');
}

/** Renders a document: the XML declaration, then `root` indented by two spaces per level. */
export function renderXml(root: XmlElement): string {
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  renderElement(root, 0, lines);
  return `${lines.join('\n')}\n`;
}

function renderElement(node: XmlElement, depth: number, lines: string[]): void {
  const indent = INDENT.repeat(depth);
  const attributes = Object.entries(node.attributes).map(([key, value]) => ` ${key}="${escapeAttribute(String(value))}"`).join('');
  const open = `${indent}<${node.name}${attributes}`;

  if (node.children.length === 0) {
    lines.push(`${open}/>`);
    return;
  }
  // An element whose children are all text stays on one line, so no whitespace is added to its value.
  if (node.children.every((child) => typeof child === 'string')) {
    lines.push(`${open}>${node.children.map((child) => escapeText(child)).join('')}</${node.name}>`);
    return;
  }
  lines.push(`${open}>`);
  for (const child of node.children) {
    if (typeof child === 'string') lines.push(`${indent}${INDENT}${escapeText(child)}`);
    else renderElement(child, depth + 1, lines);
  }
  lines.push(`${indent}</${node.name}>`);
}
