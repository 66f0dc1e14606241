//! Dashboard pages rendered from one snapshot in the current second, kept with the
//! snapshot: the same page asked again in that second, with the same domains in flight
//! and the same served-differs set, reuses them. What a page shows is then never older
//! than a second (its relative times are rendered to the second), and a new snapshot
//! starts with none. Two kinds are kept: the table's rows, the same for everyone, and
//! whole pages, for the one session they were rendered for (they hold its name, role
//! and form token). Bounded: `KEPT` of each, and `KEPT_WHOLE_BYTES` of whole pages, of
//! the current second only.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;

const KEPT: usize = 32;

/// The most bytes of whole pages kept (the newest is kept whatever its size). At 10,000
/// pools a whole page is about 54 KB: 32 of them, asked in the same second by one
/// session (a crawl, a load test), held 1.7 MB until the next page was asked, however
/// long after (issue 17: RSS). The rows, everyone's, keep their `KEPT` pages (20 KB
/// each at 10,000 pools): people paging through the same list in a second reuse them.
const KEPT_WHOLE_BYTES: usize = 256 * 1024;

/// The size of a kept page, for `KEPT_WHOLE_BYTES`.
trait Weighed {
    fn bytes(&self) -> usize;
}

impl Weighed for RenderedPage {
    fn bytes(&self) -> usize {
        self.html.len()
    }
}

impl Weighed for Bytes {
    fn bytes(&self) -> usize {
        self.len()
    }
}

#[derive(Default)]
pub struct RenderedPages {
    rows: Mutex<Vec<Kept<RenderedPage>>>,
    whole: Mutex<Vec<Kept<Bytes>>>,
}

/// One rendered page and what it was rendered from. The `Weak`s name the sets without
/// keeping their contents alive (and their addresses cannot be reused while held, so a
/// match is the same set).
struct Kept<T> {
    second: i64,
    query: String,
    served_differs: Weak<HashSet<String>>,
    in_flight: Weak<HashSet<String>>,
    /// Who it was rendered for (empty for the rows, which are everyone's).
    viewer: String,
    page: T,
}

/// A page of rows as HTML, and where it stands among the matching rows.
#[derive(Clone)]
pub struct RenderedPage {
    pub html: Arc<str>,
    pub total: usize,
    pub page: usize,
    pub pages: usize,
}

/// What a kept page must have been rendered from.
pub struct Probe<'a> {
    /// The Unix second it is rendered in.
    pub second: i64,
    /// The query, every parameter (the page's number included).
    pub query: String,
    pub served_differs: &'a Arc<HashSet<String>>,
    pub in_flight: &'a Arc<HashSet<String>>,
}

impl Probe<'_> {
    fn is<T>(&self, kept: &Kept<T>, viewer: &str) -> bool {
        kept.second == self.second
            && kept.query == self.query
            && kept.viewer == viewer
            && std::ptr::eq(
                kept.served_differs.as_ptr(),
                Arc::as_ptr(self.served_differs),
            )
            && std::ptr::eq(kept.in_flight.as_ptr(), Arc::as_ptr(self.in_flight))
    }
}

fn lock<T>(list: &Mutex<Vec<Kept<T>>>) -> MutexGuard<'_, Vec<Kept<T>>> {
    match list.lock() {
        Ok(kept) => kept,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn find<T: Clone>(list: &Mutex<Vec<Kept<T>>>, probe: &Probe<'_>, viewer: &str) -> Option<T> {
    lock(list)
        .iter()
        .find(|kept| probe.is(kept, viewer))
        .map(|kept| kept.page.clone())
}

fn keep<T: Clone + Weighed>(
    list: &Mutex<Vec<Kept<T>>>,
    probe: &Probe<'_>,
    viewer: &str,
    page: &T,
    max_bytes: usize,
) {
    let mut kept = lock(list);
    kept.retain(|k| k.second == probe.second);
    // The oldest go first, until the new page fits the count and the bytes.
    let mut bytes: usize = kept.iter().map(|k| k.page.bytes()).sum::<usize>() + page.bytes();
    let mut first = 0;
    while first < kept.len() && (kept.len() - first >= KEPT || bytes > max_bytes) {
        bytes -= kept[first].page.bytes();
        first += 1;
    }
    kept.drain(..first);
    kept.push(Kept {
        second: probe.second,
        query: probe.query.clone(),
        served_differs: Arc::downgrade(probe.served_differs),
        in_flight: Arc::downgrade(probe.in_flight),
        viewer: viewer.to_owned(),
        page: page.clone(),
    });
}

impl RenderedPages {
    /// The rows rendered for `probe`.
    pub fn find(&self, probe: &Probe<'_>) -> Option<RenderedPage> {
        find(&self.rows, probe, "")
    }

    pub fn keep(&self, probe: &Probe<'_>, page: &RenderedPage) {
        keep(&self.rows, probe, "", page, usize::MAX);
    }

    /// The whole page rendered for `probe` and `viewer`: everything the page shows of
    /// the session (its user's name, role and teams, its form token) and of the
    /// console's state beyond the snapshot and the probe's sets.
    pub fn find_whole(&self, probe: &Probe<'_>, viewer: &str) -> Option<Bytes> {
        find(&self.whole, probe, viewer)
    }

    pub fn keep_whole(&self, probe: &Probe<'_>, viewer: &str, page: &Bytes) {
        keep(&self.whole, probe, viewer, page, KEPT_WHOLE_BYTES);
    }

    /// Pages of rows kept now.
    pub fn len(&self) -> usize {
        lock(&self.rows).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whole pages kept now.
    pub fn whole_len(&self) -> usize {
        lock(&self.whole).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(html: &str) -> RenderedPage {
        RenderedPage {
            html: html.into(),
            total: 1,
            page: 1,
            pages: 1,
        }
    }

    /// A kept page is found for the same second, query and sets only; a changed set
    /// (a new `Arc`, even with the same contents) or the next second misses, and old
    /// seconds are dropped. At most `KEPT` pages are kept.
    #[test]
    fn a_page_is_reused_only_for_the_same_second_query_and_sets() {
        let pages = RenderedPages::default();
        let differs = Arc::new(HashSet::new());
        let in_flight = Arc::new(HashSet::from(["a.example".to_owned()]));
        let probe = |second, query: &str, differs, in_flight| Probe {
            second,
            query: query.to_owned(),
            served_differs: differs,
            in_flight,
        };
        pages.keep(&probe(10, "page=1", &differs, &in_flight), &page("one"));
        let found = pages.find(&probe(10, "page=1", &differs, &in_flight));
        assert_eq!(found.map(|p| p.html), Some("one".into()));
        assert!(
            pages
                .find(&probe(10, "page=2", &differs, &in_flight))
                .is_none()
        );
        assert!(
            pages
                .find(&probe(11, "page=1", &differs, &in_flight))
                .is_none()
        );
        let same_contents = Arc::new((*in_flight).clone());
        assert!(
            pages
                .find(&probe(10, "page=1", &differs, &same_contents))
                .is_none()
        );
        let other_differs = Arc::new(HashSet::from(["b.example".to_owned()]));
        assert!(
            pages
                .find(&probe(10, "page=1", &other_differs, &in_flight))
                .is_none()
        );
        // The next second's first page drops the last second's.
        pages.keep(&probe(11, "page=1", &differs, &in_flight), &page("two"));
        assert_eq!(pages.len(), 1);
        for n in 0..100 {
            pages.keep(
                &probe(11, &format!("page={n}"), &differs, &in_flight),
                &page("x"),
            );
        }
        assert_eq!(pages.len(), KEPT);
    }

    /// A whole page is found only for the viewer it was kept for, with the same second,
    /// query and sets as the rows; the rows are found whoever asks. Bounded like them.
    #[test]
    fn a_whole_page_is_reused_only_for_the_same_viewer() {
        let pages = RenderedPages::default();
        let differs = Arc::new(HashSet::new());
        let in_flight = Arc::new(HashSet::new());
        let probe = |second, query: &str| Probe {
            second,
            query: query.to_owned(),
            served_differs: &differs,
            in_flight: &in_flight,
        };
        pages.keep_whole(
            &probe(10, "page=1"),
            "alice admin token-a",
            &Bytes::from("a"),
        );
        assert_eq!(
            pages.find_whole(&probe(10, "page=1"), "alice admin token-a"),
            Some(Bytes::from("a"))
        );
        for other in [
            "alice viewer token-a",
            "alice admin token-b",
            "bob admin token-a",
            "",
        ] {
            assert!(
                pages.find_whole(&probe(10, "page=1"), other).is_none(),
                "{other}"
            );
        }
        assert!(
            pages
                .find_whole(&probe(10, "page=2"), "alice admin token-a")
                .is_none()
        );
        assert!(
            pages
                .find_whole(&probe(11, "page=1"), "alice admin token-a")
                .is_none()
        );
        // Whole pages are not rows: neither list answers for the other.
        assert!(pages.find(&probe(10, "page=1")).is_none());
        for n in 0..100 {
            pages.keep_whole(
                &probe(11, "page=1"),
                &format!("viewer {n}"),
                &Bytes::from("x"),
            );
        }
        assert_eq!(pages.whole_len(), KEPT);
        assert!(pages.is_empty());
    }

    /// Whole pages are kept up to `KEPT_WHOLE_BYTES`, the oldest dropped first; one
    /// larger than that alone is still kept (the same second's askers reuse it). The
    /// rows are bounded by their number only.
    #[test]
    fn whole_pages_are_kept_up_to_a_number_of_bytes() {
        let pages = RenderedPages::default();
        let differs = Arc::new(HashSet::new());
        let in_flight = Arc::new(HashSet::new());
        let probe = |query: String| Probe {
            second: 7,
            query,
            served_differs: &differs,
            in_flight: &in_flight,
        };
        let big = KEPT_WHOLE_BYTES / 4 + 1;
        for n in 0..10 {
            let query = format!("page={n}");
            pages.keep(&probe(query.clone()), &page(&"r".repeat(big)));
            pages.keep_whole(&probe(query), "alice", &Bytes::from(vec![b'w'; big]));
        }
        // Three fit in the budget (four would pass it by 4 bytes): the last three.
        assert_eq!(pages.whole_len(), 3);
        assert_eq!(pages.len(), 10, "rows are bounded by their number only");
        for n in 0..10 {
            let query = format!("page={n}");
            assert!(pages.find(&probe(query.clone())).is_some(), "{n}");
            assert_eq!(pages.find_whole(&probe(query), "alice").is_some(), n >= 7);
        }
        let huge = Bytes::from(vec![b'h'; KEPT_WHOLE_BYTES * 2]);
        pages.keep_whole(&probe("huge".to_owned()), "alice", &huge);
        assert_eq!(pages.whole_len(), 1);
        assert!(
            pages
                .find_whole(&probe("huge".to_owned()), "alice")
                .is_some()
        );
    }
}
