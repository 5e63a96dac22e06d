//! The small XML tree WeChat's flat documents need: a hardened reader (no DTD, bounded depth) and
//! a writer that wraps strings in CDATA.

use std::borrow::Cow;
use std::str::FromStr;

use quick_xml::events::{BytesCData, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

use crate::WechatError;

/// Deeper nesting than any WeChat message has (5) is an attack or a bug.
const MAX_DEPTH: usize = 16;

/// A parsed element: its name, its own text (CDATA and text joined), and its child elements.
/// Attributes are dropped because WeChat's XML has none.
#[derive(Debug)]
pub(super) struct Element {
    pub(super) name: String,
    pub(super) text: String,
    pub(super) children: Vec<Element>,
}

impl Element {
    pub(super) fn find(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|child| child.name == name)
    }

    pub(super) fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |child| child.name == name)
    }

    pub(super) fn child(&self, name: &'static str) -> Result<&Element, WechatError> {
        self.find(name).ok_or(WechatError::MissingXmlField { field: name })
    }

    /// A required string value; present-but-empty is allowed.
    pub(super) fn text(&self, name: &'static str) -> Result<&str, WechatError> {
        Ok(self.child(name)?.text.as_str())
    }

    /// An optional string value; empty counts as absent, because WeChat sends `<EventKey><![CDATA[]]></EventKey>`
    /// for "no key".
    pub(super) fn opt_text(&self, name: &str) -> Option<String> {
        self.find(name).map(|child| child.text.as_str()).filter(|text| !text.is_empty()).map(str::to_owned)
    }

    pub(super) fn number<T: FromStr>(&self, name: &'static str) -> Result<T, WechatError> {
        self.text(name)?
            .trim()
            .parse()
            .map_err(|_| WechatError::InvalidXmlField { field: name, reason: "not a number" })
    }

    pub(super) fn opt_number<T: FromStr>(&self, name: &'static str) -> Result<Option<T>, WechatError> {
        match self.find(name) {
            Some(child) if !child.text.trim().is_empty() => self.number(name).map(Some),
            _ => Ok(None),
        }
    }

    /// A finite decimal coordinate (`f64::from_str` would also accept `NaN` and `inf`).
    pub(super) fn coordinate(&self, name: &'static str) -> Result<f64, WechatError> {
        let value: f64 = self.number(name)?;
        if value.is_finite() {
            Ok(value)
        } else {
            Err(WechatError::InvalidXmlField { field: name, reason: "not a finite number" })
        }
    }
}

/// An element being read: text pieces stay apart until the end tag, see [`join_text`].
pub(super) struct OpenElement {
    pub(super) name: String,
    pieces: Vec<(bool, String)>,
    pub(super) children: Vec<Element>,
}

impl OpenElement {
    pub(super) fn close(self) -> Element {
        Element { name: self.name, text: join_text(self.pieces), children: self.children }
    }
}

/// Joins text and CDATA pieces; when CDATA is present, whitespace-only text around it is layout, not value.
pub(super) fn join_text(pieces: Vec<(bool, String)>) -> String {
    let has_cdata = pieces.iter().any(|(is_cdata, _)| *is_cdata);
    pieces
        .into_iter()
        .filter(|(is_cdata, text)| *is_cdata || !has_cdata || !text.trim().is_empty())
        .map(|(_, text)| text)
        .collect()
}

pub(super) fn malformed(reason: impl Into<String>) -> WechatError {
    WechatError::MalformedXml { reason: reason.into() }
}

pub(super) fn element_name(start: &BytesStart<'_>) -> Result<String, WechatError> {
    std::str::from_utf8(start.name().as_ref()).map(str::to_owned).map_err(|_| malformed("element name is not UTF-8"))
}

/// Reads one document into an element tree, iteratively (no recursion on attacker-controlled depth).
pub(super) fn parse_document(xml: &str) -> Result<Element, WechatError> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<OpenElement> = Vec::new();
    loop {
        let event = reader.read_event().map_err(|err| malformed(err.to_string()))?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(malformed("nested too deeply"));
                }
                stack.push(OpenElement { name: element_name(&start)?, pieces: Vec::new(), children: Vec::new() });
            }
            Event::Empty(start) => {
                let element = Element { name: element_name(&start)?, text: String::new(), children: Vec::new() };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => return Ok(element),
                }
            }
            Event::End(_) => {
                // quick-xml has already checked that the end tag matches the open one.
                let element = stack.pop().ok_or_else(|| malformed("end tag without start tag"))?.close();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => return Ok(element),
                }
            }
            Event::Text(text) => {
                let text = text.unescape().map_err(|err| malformed(err.to_string()))?;
                push_piece(&mut stack, false, text)?;
            }
            Event::CData(cdata) => {
                let text =
                    String::from_utf8(cdata.into_inner().into_owned()).map_err(|_| malformed("CDATA is not UTF-8"))?;
                push_piece(&mut stack, true, Cow::Owned(text))?;
            }
            // A DTD is the door to entity expansion (XXE, billion laughs); WeChat never sends one.
            Event::DocType(_) => return Err(malformed("DTDs are not accepted")),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => {
                return Err(malformed(if stack.is_empty() { "no root element" } else { "unexpected end of input" }));
            }
        }
    }
}

pub(super) fn push_piece(stack: &mut [OpenElement], is_cdata: bool, text: Cow<'_, str>) -> Result<(), WechatError> {
    match stack.last_mut() {
        Some(open) => {
            open.pieces.push((is_cdata, text.into_owned()));
            Ok(())
        }
        None if !is_cdata && text.trim().is_empty() => Ok(()),
        None => Err(malformed("text outside the root element")),
    }
}

/// A thin writer over `quick_xml::Writer` for WeChat's flat element style.
pub(super) struct XmlOut {
    writer: Writer<Vec<u8>>,
}

impl XmlOut {
    pub(super) fn new() -> Self {
        Self { writer: Writer::new(Vec::new()) }
    }

    pub(super) fn write(&mut self, event: Event<'_>) {
        // The sink is a Vec<u8>, whose writes cannot fail; quick-xml reports only I/O errors when writing.
        self.writer.write_event(event).expect("writing XML into a Vec<u8> cannot fail");
    }

    pub(super) fn start(&mut self, name: &str) {
        self.write(Event::Start(BytesStart::new(name)));
    }

    pub(super) fn end(&mut self, name: &str) {
        self.write(Event::End(BytesEnd::new(name)));
    }

    /// `<name><![CDATA[value]]></name>`, splitting `]]>` across two CDATA sections so the value survives intact.
    pub(super) fn cdata(&mut self, name: &str, value: &str) {
        self.start(name);
        let parts: Vec<&str> = value.split("]]>").collect();
        let last = parts.len() - 1;
        for (i, part) in parts.iter().enumerate() {
            let mut section = String::with_capacity(part.len() + 3);
            if i > 0 {
                section.push('>');
            }
            section.push_str(part);
            if i < last {
                section.push_str("]]");
            }
            self.write(Event::CData(BytesCData::new(section)));
        }
        self.end(name);
    }

    /// `<name>value</name>` for numbers and ids, which WeChat sends without CDATA.
    pub(super) fn bare(&mut self, name: &str, value: impl ToString) {
        self.start(name);
        let value = value.to_string();
        self.write(Event::Text(BytesText::new(&value)));
        self.end(name);
    }

    pub(super) fn finish(self) -> String {
        // Everything written came from `&str` values and ASCII markup.
        String::from_utf8_lossy(&self.writer.into_inner()).into_owned()
    }
}
