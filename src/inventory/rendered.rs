//! Dashboard pages of rows rendered from one snapshot in the current second, kept with
//! the snapshot: the same page asked again in that second, with the same domains in
//! flight and the same served-differs set, reuses them. What a page shows is then never
//! older than a second (its relative times are rendered to the second), and a new
//! snapshot starts with none. Bounded: `KEPT` pages, of the current second only.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

const KEPT: usize = 32;

#[derive(Default)]
pub struct RenderedPages {
    kept: Mutex<Vec<Kept>>,
}

/// One rendered page of rows and what it was rendered from. The `Weak`s name the sets
/// without keeping their contents alive (and their addresses cannot be reused while
/// held, so a match is the same set).
struct Kept {
    second: i64,
    query: String,
    served_differs: Weak<HashSet<String>>,
    in_flight: Weak<HashSet<String>>,
    page: RenderedPage,
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
    fn is(&self, kept: &Kept) -> bool {
        kept.second == self.second
            && kept.query == self.query
            && std::ptr::eq(
                kept.served_differs.as_ptr(),
                Arc::as_ptr(self.served_differs),
            )
            && std::ptr::eq(kept.in_flight.as_ptr(), Arc::as_ptr(self.in_flight))
    }
}

impl RenderedPages {
    fn lock(&self) -> MutexGuard<'_, Vec<Kept>> {
        match self.kept.lock() {
            Ok(kept) => kept,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn find(&self, probe: &Probe<'_>) -> Option<RenderedPage> {
        self.lock()
            .iter()
            .find(|kept| probe.is(kept))
            .map(|kept| kept.page.clone())
    }

    pub fn keep(&self, probe: &Probe<'_>, page: &RenderedPage) {
        let mut kept = self.lock();
        kept.retain(|k| k.second == probe.second);
        if kept.len() >= KEPT {
            kept.remove(0);
        }
        kept.push(Kept {
            second: probe.second,
            query: probe.query.clone(),
            served_differs: Arc::downgrade(probe.served_differs),
            in_flight: Arc::downgrade(probe.in_flight),
            page: page.clone(),
        });
    }

    /// Pages kept now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
}
