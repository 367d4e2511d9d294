//! Terminal output for the demo: 80 columns, ANSI colours only when asked for
//! (stdout is a TTY and not `--no-color`). Pure formatting plus a writer.
use std::io::Write;

pub const WIDTH: usize = 80;
/// Width of the label column of a timeline line.
const LABEL: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Dim,
    Good,
    Warn,
    Bad,
    Accent,
}

impl Tone {
    fn code(&self) -> &'static str {
        match self {
            Self::Plain => "",
            Self::Dim => "\x1b[2m",
            Self::Good => "\x1b[32m",
            Self::Warn => "\x1b[33m",
            Self::Bad => "\x1b[31m",
            Self::Accent => "\x1b[36m",
        }
    }
}

/// Shorten `text` to `max` characters, marking the cut.
pub fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Pad (or cut) to exactly `width` characters.
pub fn cell(text: &str, width: usize) -> String {
    let t = fit(text, width);
    let pad = width.saturating_sub(t.chars().count());
    format!("{t}{}", " ".repeat(pad))
}

/// Word-wrap `text` into lines of at most `width` characters; at most `max_lines`
/// lines, the last one cut with `…` when more would follow.
pub fn wrap(text: &str, width: usize, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let needed =
            current.chars().count() + usize::from(!current.is_empty()) + word.chars().count();
        if needed <= width {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        // A word longer than a line (an ARN, a URL) is cut across lines.
        let mut rest: Vec<char> = word.chars().collect();
        while rest.len() > width {
            lines.push(rest.drain(..width).collect());
        }
        current = rest.into_iter().collect();
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            // Ends with `…` either way: appended, or where `fit` cut.
            *last = fit(&format!("{last} …"), width);
        }
    }
    lines
}

pub struct Screen {
    out: Box<dyn Write + Send>,
    color: bool,
}

impl Screen {
    pub fn new(out: Box<dyn Write + Send>, color: bool) -> Self {
        Self { out, color }
    }

    pub fn paint(&self, text: &str, tone: Tone) -> String {
        if !self.color || tone == Tone::Plain {
            return text.to_string();
        }
        format!("{}{text}\x1b[0m", tone.code())
    }

    fn emit(&mut self, line: &str) {
        // A closed stdout (`| head`) must not abort the demo's checks.
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
    }

    pub fn blank(&mut self) {
        self.emit("");
    }

    /// `── title ───…` across the width.
    pub fn heading(&mut self, title: &str) {
        let title = fit(title, WIDTH - 4);
        let rule = "─".repeat(WIDTH.saturating_sub(title.chars().count() + 4));
        let line = format!("── {title} {rule}");
        let painted = self.paint(&line, Tone::Accent);
        self.emit(&painted);
    }

    /// A plain line, cut to the width.
    pub fn say(&mut self, text: &str, tone: Tone) {
        let painted = self.paint(&fit(text, WIDTH), tone);
        self.emit(&painted);
    }

    /// `  label     text`, the text wrapped under itself (up to 4 lines).
    pub fn step(&mut self, label: &str, text: &str, tone: Tone) {
        let label = self.paint(&cell(label, LABEL), Tone::Dim);
        for (n, line) in wrap(text, WIDTH - LABEL - 2, 4).iter().enumerate() {
            let painted = self.paint(line, tone);
            if n == 0 {
                self.emit(&format!("  {label}{painted}"));
            } else {
                self.emit(&format!("  {}{painted}", " ".repeat(LABEL)));
            }
        }
    }

    /// An indented detail under a line (`indent` spaces), wrapped.
    pub fn detail(&mut self, indent: usize, text: &str, tone: Tone) {
        for line in wrap(text, WIDTH - indent, 4) {
            let painted = self.paint(&line, tone);
            self.emit(&format!("{}{painted}", " ".repeat(indent)));
        }
    }

    /// An indented block of lines (a Slack message), each wrapped.
    pub fn quote(&mut self, lines: &[&str], tone: Tone) {
        for l in lines {
            for (n, part) in wrap(l, WIDTH - LABEL - 6, 3).iter().enumerate() {
                let bar = if n == 0 { "│ " } else { "│   " };
                let painted = self.paint(&format!("{bar}{part}"), tone);
                self.emit(&format!("  {}{painted}", " ".repeat(LABEL)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_and_cell_count_characters_not_bytes() {
        assert_eq!(fit("héllo", 5), "héllo");
        assert_eq!(fit("héllo world", 6), "héllo…");
        assert_eq!(cell("ab", 4), "ab  ");
        assert_eq!(cell("abcdef", 4), "abc…");
    }

    #[test]
    fn wrap_keeps_words_whole_and_bounds_the_lines() {
        assert_eq!(wrap("a bb ccc", 4, 4), vec!["a bb", "ccc"]);
        assert_eq!(wrap("", 4, 4), vec![""]);
        assert_eq!(wrap("abcdefghij", 4, 4), vec!["abcd", "efgh", "ij"]);
        let cut = wrap("one two three four five", 5, 2);
        assert_eq!(cut.len(), 2);
        assert!(cut[1].ends_with('…'), "{cut:?}");
        assert!(cut.iter().all(|l| l.chars().count() <= 5), "{cut:?}");
    }

    #[test]
    fn no_escape_codes_without_colour() {
        let s = Screen::new(Box::new(std::io::sink()), false);
        assert_eq!(s.paint("x", Tone::Bad), "x");
        let s = Screen::new(Box::new(std::io::sink()), true);
        assert_eq!(s.paint("x", Tone::Bad), "\x1b[31mx\x1b[0m");
    }
}
