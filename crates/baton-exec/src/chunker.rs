//! Cut a byte stream into chunks that end at line boundaries, so consumers that split lines
//! (terminal, dashboard) never see half a line — unless a single line exceeds `max_line`.

pub struct LineChunker {
    pending: Vec<u8>,
    max_line: usize,
}

impl LineChunker {
    pub fn new(max_line: usize) -> Self {
        LineChunker {
            pending: Vec::new(),
            max_line,
        }
    }

    /// Feed bytes; `emit` receives every complete chunk now available.
    pub fn push(&mut self, data: &[u8], emit: &mut dyn FnMut(&[u8])) {
        match memchr::memrchr(b'\n', data) {
            Some(last) => {
                if self.pending.is_empty() {
                    emit(&data[..=last]);
                } else {
                    self.pending.extend_from_slice(&data[..=last]);
                    emit(&self.pending);
                    self.pending.clear();
                }
                self.pending.extend_from_slice(&data[last + 1..]);
            }
            None => self.pending.extend_from_slice(data),
        }
        if self.pending.len() >= self.max_line {
            emit(&self.pending);
            self.pending.clear();
        }
    }

    /// Emit what is left (output without a trailing newline).
    pub fn finish(&mut self, emit: &mut dyn FnMut(&[u8])) {
        if !self.pending.is_empty() {
            emit(&self.pending);
            self.pending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(inputs: &[&[u8]], max_line: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut chunker = LineChunker::new(max_line);
        for input in inputs {
            chunker.push(input, &mut |c| out.push(c.to_vec()));
        }
        chunker.finish(&mut |c| out.push(c.to_vec()));
        out
    }

    #[test]
    fn chunks_end_at_newlines() {
        assert_eq!(
            chunks(&[b"a\nb", b"c\nd"], 100),
            vec![b"a\n".to_vec(), b"bc\n".to_vec(), b"d".to_vec()]
        );
    }

    #[test]
    fn huge_lines_are_cut() {
        let got = chunks(&[b"xxxxxxxxxx", b"yy\n"], 4);
        assert_eq!(got, vec![b"xxxxxxxxxx".to_vec(), b"yy\n".to_vec()]);
    }

    #[test]
    fn invalid_utf8_passes_through() {
        assert_eq!(
            chunks(&[&[0xff, b'\n', 0xfe]], 100),
            vec![vec![0xff, b'\n'], vec![0xfe]]
        );
    }
}
