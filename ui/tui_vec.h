/*
 * tui_vec.h - row sources for a tui_list backed by a C array (keyset paging, search and
 * filter written once for both):
 *
 *   tui_vec   rows added once (a restored database's documents, a document's attachments),
 *             keyed by their index printed with leading zeros, so the source order is the
 *             order of tui_vec_add. search and filter match a case-insensitive substring of
 *             any cell or of the row's tag: a string the caller gets back by key (a unid).
 *   tui_keys  a sorted array of unique string keys (database paths, NLO names) whose rows
 *             are built on demand, only for the rows shown (a database's figures are read
 *             when its row first appears). search and filter match a case-insensitive
 *             substring of the key.
 */
#ifndef DV_TUI_VEC_H
#define DV_TUI_VEC_H

#include <stdbool.h>
#include <stddef.h>

#include "tui_list.h"

/* A new empty source with ncells cells a row (<= TUI_COLS_MAX). Owned by the list it is
 * given to (tui_list_set_source), or freed with src->free(src). */
struct tui_source *tui_vec_new(int ncells);
/* Append a row: elem (enum theme_elem), tag (copied; may be NULL), cells[0..ncells) (copied;
 * NULL cells are empty). */
void tui_vec_add(struct tui_source *src, int elem, const char *tag, const char *const *cells);
/* Rows added. */
size_t tui_vec_len(const struct tui_source *src);
/* The tag of the row with this key, or NULL (unknown key, no tag). Valid while src lives. */
const char *tui_vec_tag(const struct tui_source *src, const char *key);

/*
 * A source over keys[0..n), sorted by strcmp and unique (not copied: they must live as long
 * as the source; done may free them). row(ud, i, r) fills row i (key included) when it is
 * fetched; done(ud) (may be NULL) runs when the source is freed.
 */
struct tui_source *tui_keys_new(char *const *keys, size_t n,
                                void (*row)(void *ud, size_t i, struct tui_row *r),
                                void (*done)(void *ud), void *ud);
/* The index of key in the source's keys, or n when it is not one of them. */
size_t tui_keys_index(const struct tui_source *src, const char *key);
/* The ud given to tui_keys_new. */
void *tui_keys_ud(const struct tui_source *src);

/*
 * A paged source (a catalog list: sets, jobs) that sorts by any column: in its own order it
 * pages as before; sorted otherwise, every row is read once into memory (at most 200,000:
 * more is an error that names the limit) and sorted there, with search and filter. Rows keep
 * the paged source's keys, so a screen reads the selected row as before. natural_col and
 * natural_desc: the paged source's order. Owns paged.
 */
struct tui_source *tui_sortable_new(struct tui_source *paged, int ncells, int natural_col,
                                    bool natural_desc);

#endif
