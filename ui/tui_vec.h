/*
 * tui_vec.h - an in-memory row source for a tui_list: rows added once (a restored database's
 * documents, a document's attachments, results of a job), keyed by their index.
 *
 * Keys are the row index printed with leading zeros, so the source order is the order of
 * tui_vec_add. search and filter match a case-insensitive substring of any cell or of the
 * row's tag: a string the caller gets back by key (a document's unid).
 */
#ifndef DV_TUI_VEC_H
#define DV_TUI_VEC_H

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

#endif
