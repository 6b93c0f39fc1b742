//! Where panes go: a grid while every pane stays readable, else (and with `t`) a table of all
//! connectors above the focused pane. Pure: the same function serves drawing and mouse
//! hit-testing.

use ratatui::layout::Rect;

/// Smallest readable pane.
pub const MIN_PANE_WIDTH: u16 = 38;
/// Smallest readable pane height (borders, detail line and a few log lines).
pub const MIN_PANE_HEIGHT: u16 = 7;
/// The least room a tile leaves a log line's message, after tracing's full timestamp and level
/// (`2026-12-03T08:54:00.123456Z  INFO `): narrower tiles would show timestamps and targets
/// only, so the table is shown instead.
pub const MIN_MESSAGE_WIDTH: u16 = 40;
/// The width a tile needs: its borders, a full timestamp and level, and the message column.
pub const MIN_TILE_WIDTH: u16 = 2 + 34 + MIN_MESSAGE_WIDTH;

/// The screen's regions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screen {
    /// One rect per visible pane: (connector index, rect).
    pub panes: Vec<(usize, Rect)>,
    /// The console log pane, when shown.
    pub console: Option<Rect>,
    /// The footer line.
    pub footer: Rect,
    /// The fleet status bar (top line; empty on a terminal under 3 lines).
    pub status: Rect,
    /// In table mode, the table's rect (the focused pane is below it).
    pub table: Option<Rect>,
}

/// Lays out `n` connectors in `area` as tiles (or the table when they do not fit).
pub fn screen(area: Rect, n: usize, focus: usize, zoom: bool, console_log: bool) -> Screen {
    screen_with(area, n, focus, zoom, console_log, false)
}

/// Lays out `n` connectors in `area`; with `table`, a table of every connector on top and the
/// focused pane below it (at any terminal size).
pub fn screen_with(
    area: Rect,
    n: usize,
    focus: usize,
    zoom: bool,
    console_log: bool,
    table: bool,
) -> Screen {
    let footer = Rect::new(
        area.x,
        area.bottom().saturating_sub(1),
        area.width,
        1.min(area.height),
    );
    let bar = u16::from(area.height >= 3);
    let status = Rect::new(area.x, area.y, area.width, bar);
    let mut main = Rect::new(
        area.x,
        area.y + bar,
        area.width,
        area.height.saturating_sub(1 + bar),
    );
    let console = if console_log && main.height >= 12 {
        let h = (main.height / 3).max(5);
        let c = Rect::new(main.x, main.bottom() - h, main.width, h);
        main.height -= h;
        Some(c)
    } else {
        None
    };
    if n == 0 {
        return Screen {
            panes: vec![],
            console,
            footer,
            status,
            table: None,
        };
    }
    let focus = focus.min(n - 1);
    if zoom {
        return Screen {
            panes: vec![(focus, main)],
            console,
            footer,
            status,
            table: None,
        };
    }
    let tiles = if table { None } else { grid(main, n) };
    match tiles {
        Some(rects) => Screen {
            panes: rects.into_iter().enumerate().collect(),
            console,
            footer,
            status,
            table: None,
        },
        None => {
            // Borders, a header, one row per connector; at most half the screen when a pane
            // fits below, else all of it.
            let want = n as u16 + 3;
            let h = if main.height >= want + MIN_PANE_HEIGHT {
                want.min(main.height / 2).max(4.min(main.height))
            } else {
                main.height
            };
            let t = Rect::new(main.x, main.y, main.width, h);
            let rest = main.height - h;
            let panes = if rest >= 3 {
                vec![(focus, Rect::new(main.x, main.y + h, main.width, rest))]
            } else {
                vec![]
            };
            Screen {
                panes,
                console,
                footer,
                status,
                table: Some(t),
            }
        }
    }
}

/// Whether `n` tiles fit in `area` (else the table is shown instead).
pub fn tiles_fit(area: Rect, n: usize, console_log: bool) -> bool {
    screen(area, n, 0, false, console_log).table.is_none()
}

/// The first connector shown in a table with room for `visible` rows: the focused one stays
/// in view.
pub fn table_first_row(focus: usize, visible: usize) -> usize {
    focus.saturating_sub(visible.saturating_sub(1))
}

/// A grid of `n` cells in `area` with every cell at least the minimum size, preferring the
/// layout whose cells are closest to a readable log shape (wide rather than tall).
fn grid(area: Rect, n: usize) -> Option<Vec<Rect>> {
    let n16 = n as u16;
    let mut best: Option<(u16, u16)> = None;
    for cols in 1..=n16 {
        let rows = n16.div_ceil(cols);
        // Tiles side by side must leave a readable message column (one column is as wide as the
        // pane under the table would be).
        let narrow = cols > 1 && area.width / cols < MIN_TILE_WIDTH;
        if narrow || area.width / cols < MIN_PANE_WIDTH || area.height / rows < MIN_PANE_HEIGHT {
            continue;
        }
        // Prefer fewer columns (longer log lines) while rows stay tall enough to read a tail.
        let rows_ok = area.height / rows >= 10 || rows == 1;
        match best {
            None => best = Some((cols, rows)),
            Some((bc, br)) => {
                let best_ok = area.height / br >= 10 || br == 1;
                let better_shape = rows_ok && !best_ok;
                let fewer_cells = rows_ok == best_ok && cols * rows < bc * br;
                if better_shape || fewer_cells {
                    best = Some((cols, rows));
                }
            }
        }
    }
    let (cols, rows) = best?;
    let mut rects = Vec::with_capacity(n);
    for i in 0..n16 {
        let (r, c) = (i / cols, i % cols);
        // The last row spreads its cells over the full width.
        let in_row = if r == rows - 1 { n16 - r * cols } else { cols };
        let x0 = area.x + area.width * c / in_row;
        let x1 = area.x + area.width * (c + 1) / in_row;
        let y0 = area.y + area.height * r / rows;
        let y1 = area.y + area.height * (r + 1) / rows;
        rects.push(Rect::new(x0, y0, x1 - x0, y1 - y0));
    }
    Some(rects)
}

/// Which visible pane contains the point.
pub fn pane_at(s: &Screen, x: u16, y: u16) -> Option<usize> {
    s.panes
        .iter()
        .find(|(_, r)| x >= r.x && x < r.right() && y >= r.y && y < r.bottom())
        .map(|(i, _)| *i)
}

/// Which table row (connector index) contains the point, with `focus` focused and the rows in
/// `order` (connector indices).
pub fn table_row_at(s: &Screen, x: u16, y: u16, order: &[usize], focus: usize) -> Option<usize> {
    let t = s.table?;
    // Border, then the header.
    if x < t.x || x >= t.right() || y < t.y + 2 || y >= t.bottom().saturating_sub(1) {
        return None;
    }
    let visible = t.height.saturating_sub(3) as usize;
    let at = order.iter().position(|i| *i == focus).unwrap_or(0);
    let row = table_first_row(at, visible) + (y - t.y - 2) as usize;
    order.get(row).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panes_stay_readable_from_80x24_to_300x80_with_1_to_12_connectors() {
        for (w, h) in [(80u16, 24u16), (120, 40), (200, 50), (300, 80)] {
            for n in 1..=12 {
                let s = screen(Rect::new(0, 0, w, h), n, n - 1, false, false);
                for (_, r) in &s.panes {
                    assert!(r.width >= MIN_PANE_WIDTH, "{w}x{h} n={n}: {r:?}");
                    assert!(r.height >= MIN_PANE_HEIGHT, "{w}x{h} n={n}: {r:?}");
                }
                if let Some(t) = s.table {
                    assert_eq!(s.panes.len(), 1);
                    assert_eq!(s.panes[0].0, n - 1, "the table shows the focused pane");
                    assert!(t.height >= 4, "{w}x{h} n={n}: {t:?}");
                } else {
                    assert_eq!(s.panes.len(), n);
                }
            }
        }
    }

    #[test]
    fn three_panes_tile_an_80x24_screen() {
        let s = screen(Rect::new(0, 0, 80, 24), 3, 0, false, false);
        assert!(s.table.is_none());
        assert_eq!(s.panes.len(), 3);
        assert!(tiles_fit(Rect::new(0, 0, 80, 24), 3, false));
        // Too many to tile: the table, with the focused pane below it.
        let s = screen(Rect::new(0, 0, 80, 24), 12, 5, false, false);
        assert!(s.table.is_some());
        assert_eq!(s.panes, vec![(5, s.panes[0].1)]);
        assert!(!tiles_fit(Rect::new(0, 0, 80, 24), 12, false));
    }

    #[test]
    fn tiles_too_narrow_for_a_message_column_give_way_to_the_table() {
        // Twelve at 120×40 would be three columns of 40: timestamps and targets only.
        assert!(!tiles_fit(Rect::new(0, 0, 120, 40), 12, false));
        let s = screen(Rect::new(0, 0, 120, 40), 12, 0, false, false);
        assert!(s.table.is_some());
        // Side by side, every tile leaves the message column its room.
        for (w, h, n) in [(160u16, 48u16, 10usize), (300, 80, 12), (200, 50, 4)] {
            let s = screen(Rect::new(0, 0, w, h), n, 0, false, false);
            assert!(s.table.is_none(), "{w}x{h} n={n} tiles");
            for (_, r) in &s.panes {
                assert!(r.width >= MIN_TILE_WIDTH, "{w}x{h} n={n}: {r:?}");
            }
        }
        // One column is as wide as the screen: tiles stay.
        assert!(tiles_fit(Rect::new(0, 0, 70, 30), 2, false));
    }

    #[test]
    fn hit_testing_finds_the_pane() {
        let s = screen(Rect::new(0, 0, 120, 40), 2, 0, false, false);
        let (idx, r) = s.panes[1];
        assert_eq!(pane_at(&s, r.x + 1, r.y + 1), Some(idx));
    }

    #[test]
    fn table_rows_are_hit_where_they_are_drawn_when_scrolled() {
        // 12 rows at 80x12: the table shows some of them, scrolled to keep row 11 in view.
        let area = Rect::new(0, 0, 80, 12);
        let s = screen_with(area, 12, 11, false, false, true);
        let t = s.table.expect("table");
        let visible = t.height as usize - 3;
        assert!(visible < 12);
        let last_row_y = t.y + 2 + visible as u16 - 1;
        let order: Vec<usize> = (0..12).collect();
        assert_eq!(table_row_at(&s, 5, last_row_y, &order, 11), Some(11));
        assert_eq!(table_row_at(&s, 5, t.y + 2, &order, 11), Some(12 - visible));
        assert_eq!(table_row_at(&s, 5, t.y + 1, &order, 11), None, "the header");
        // Sorted in reverse: the focused connector 0 is the last row, 11 the first.
        let rev: Vec<usize> = (0..12).rev().collect();
        assert_eq!(table_row_at(&s, 5, last_row_y, &rev, 0), Some(0));
        assert_eq!(table_row_at(&s, 5, t.y + 2, &rev, 0), Some(visible - 1));
    }
}

/// The pane next to `from` in direction `dir` on `screen` (the nearest whose centre lies that
/// way), as a connector index; None at the edge (arrows do not wrap). In the table, up and
/// down move through its rows, in `order` (connector indices as the table shows them).
pub fn neighbor(
    screen: &Screen,
    order: &[usize],
    from: usize,
    dir: super::keymap::Dir,
) -> Option<usize> {
    use super::keymap::Dir;
    if screen.table.is_some() {
        // A focused connector the row filter hides: the arrows enter the rows shown.
        let Some(at) = order.iter().position(|i| *i == from) else {
            return order.first().copied();
        };
        return match dir {
            Dir::Up if at > 0 => Some(order[at - 1]),
            Dir::Down => order.get(at + 1).copied(),
            _ => None,
        };
    }
    let centre = |r: &Rect| {
        (
            r.x as i32 * 2 + r.width as i32,
            r.y as i32 * 2 + r.height as i32,
        )
    };
    let (_, here) = screen.panes.iter().find(|(i, _)| *i == from)?;
    let (cx, cy) = centre(here);
    screen
        .panes
        .iter()
        .filter(|(i, _)| *i != from)
        .filter_map(|(i, r)| {
            let (x, y) = centre(r);
            let (dx, dy) = (x - cx, y - cy);
            let (along, across) = match dir {
                Dir::Right => (dx, dy),
                Dir::Left => (-dx, dy),
                Dir::Down => (dy, dx),
                Dir::Up => (-dy, dx),
            };
            (along > 0).then_some((along + across.abs() * 2, *i))
        })
        .min()
        .map(|(_, i)| i)
}

#[cfg(test)]
mod neighbor_tests {
    use super::*;
    use crate::tui::keymap::Dir;

    #[test]
    fn arrows_move_across_the_grid_and_stop_at_its_edges() {
        // Four panes in a 2×2 grid.
        let s = screen(Rect::new(0, 0, 200, 40), 4, 0, false, false);
        assert_eq!(s.panes.len(), 4, "{s:?}");
        let four = [0, 1, 2, 3];
        assert_eq!(neighbor(&s, &four, 0, Dir::Right), Some(1));
        assert_eq!(neighbor(&s, &four, 0, Dir::Down), Some(2));
        assert_eq!(neighbor(&s, &four, 3, Dir::Up), Some(1));
        assert_eq!(neighbor(&s, &four, 3, Dir::Left), Some(2));
        assert_eq!(neighbor(&s, &four, 0, Dir::Left), None, "no wrap");
        assert_eq!(neighbor(&s, &four, 0, Dir::Up), None, "no wrap");
        // The table (too many to tile): up and down walk its rows.
        let l = screen(Rect::new(0, 0, 80, 24), 12, 5, false, false);
        assert!(l.table.is_some());
        let twelve: Vec<usize> = (0..12).collect();
        assert_eq!(neighbor(&l, &twelve, 5, Dir::Down), Some(6));
        assert_eq!(neighbor(&l, &twelve, 0, Dir::Up), None);
        assert_eq!(neighbor(&l, &twelve, 11, Dir::Down), None);
        // A sorted table: down goes to the next row shown.
        let sorted = [3, 0, 7, 1, 2, 4, 5, 6, 8, 9, 10, 11];
        assert_eq!(neighbor(&l, &sorted, 3, Dir::Down), Some(0));
        assert_eq!(neighbor(&l, &sorted, 1, Dir::Up), Some(7));
        assert_eq!(neighbor(&l, &sorted, 3, Dir::Up), None);
    }
}
