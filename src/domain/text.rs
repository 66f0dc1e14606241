//! Text from outside (paths, user agents, typed names) bounded before it is stored.

/// `value` cut to at most `max` bytes at a character boundary, with `…` when cut.
pub fn truncate_bytes(value: &str, max: usize) -> String {
    if value.len() <= max {
        return value.to_owned();
    }
    let ellipsis = '…';
    let mut end = max.saturating_sub(ellipsis.len_utf8());
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = value[..end].to_owned();
    cut.push(ellipsis);
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        assert_eq!(truncate_bytes("short", 512), "short");
        let long = "é".repeat(1000);
        let cut = truncate_bytes(&long, 512);
        assert!(cut.len() <= 512, "{}", cut.len());
        assert!(cut.ends_with('…'));
    }
}
