//! Reading a load-balanced streaming answer (`text/event-stream`, the format
//! [`flash_contract::http::sse`] describes) as it arrives.

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// Its `event:` name; `None` for a plain `message`.
    pub(crate) name: Option<String>,
    /// Its `data:` lines, joined by `\n`.
    pub(crate) data: String,
}

/// Splits a byte stream into events, however the bytes are chunked.
#[derive(Debug)]
pub(crate) struct Parser {
    /// Bytes of the line not yet ended.
    line: Vec<u8>,
    name: Option<String>,
    data: Option<String>,
    /// Largest event (pending line plus data) held before the answer is refused.
    limit: usize,
}

impl Parser {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            line: Vec::new(),
            name: None,
            data: None,
            limit,
        }
    }

    /// Takes the next bytes of the body; returns the events they complete, in order.
    ///
    /// # Errors
    /// An event over the limit, or one that is not UTF-8.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<Vec<Event>, String> {
        let mut events = Vec::new();
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&rest[..end]);
            rest = &rest[end + 1..];
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if let Some(event) = self.field(&line)? {
                events.push(event);
            }
        }
        self.line.extend_from_slice(rest);
        let held = self.line.len() + self.data.as_ref().map_or(0, String::len);
        if held > self.limit {
            return Err(format!(
                "an event of the stream is over {} bytes",
                self.limit
            ));
        }
        Ok(events)
    }

    /// One line: a field of the event being read, or the blank line that ends it.
    fn field(&mut self, line: &[u8]) -> Result<Option<Event>, String> {
        if line.is_empty() {
            let name = self.name.take();
            return Ok(self.data.take().map(|data| Event { name, data }));
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| "a line of the stream is not UTF-8".to_owned())?;
        if line.starts_with(':') {
            return Ok(None); // a comment: the keep-alive
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.name = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {} // `id` and `retry` mean nothing to a one-shot call
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(data: &str) -> Event {
        Event {
            name: None,
            data: data.to_owned(),
        }
    }

    #[test]
    fn events_are_found_however_the_bytes_are_split() {
        let body = b": keep-alive\n\ndata: \"a\"\n\ndata: {\"x\":\r\ndata: 1}\r\n\r\nevent: end\ndata: {}\n\n";
        let expected = vec![
            message("\"a\""),
            message("{\"x\":\n1}"),
            Event {
                name: Some("end".into()),
                data: "{}".into(),
            },
        ];
        for split in 1..body.len() {
            let mut parser = Parser::new(1024);
            let mut events = parser.push(&body[..split]).unwrap();
            events.extend(parser.push(&body[split..]).unwrap());
            assert_eq!(events, expected, "split at {split}");
        }
        let mut parser = Parser::new(1024);
        let one_by_one: Vec<Event> = body
            .iter()
            .flat_map(|b| parser.push(std::slice::from_ref(b)).unwrap())
            .collect();
        assert_eq!(one_by_one, expected);
    }

    #[test]
    fn an_event_over_the_limit_or_not_utf8_is_refused() {
        let mut parser = Parser::new(8);
        assert!(parser.push(b"data: 0123456789").is_err());
        let mut parser = Parser::new(8);
        assert!(parser.push(b"data: 0123\ndata: 45678\n").is_err());
        let mut parser = Parser::new(64);
        assert!(parser.push(b"data: \xff\n\n").is_err());
    }

    #[test]
    fn a_body_cut_before_its_blank_line_completes_nothing() {
        let mut parser = Parser::new(64);
        assert_eq!(parser.push(b"data: 1\n").unwrap(), vec![]);
    }
}
