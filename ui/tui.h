/*
 * tui.h - the console's screen manager, layout, key tables and dialogs (ncursesw).
 *
 * One loop (tui_run) owns getch(), KEY_RESIZE, signals and redraw. It wakes every 100 ms
 * (timeout) so clocks and progress bars move while the operator does nothing. A screen is a
 * small vtable: it draws its body and handles the actions of its key table; it never calls
 * getch() or refresh() itself. Keys are looked up in tables (struct tui_key), the same
 * tables that fill the function-key bar and the help screen, so neither can lie.
 *
 * Layout, top to bottom: title bar, tab bar, body, status line, function-key bar. Below
 * TUI_MIN_W x TUI_MIN_H only "terminal too small (WxH, need 60x16)" is drawn.
 *
 * Lookup order for a key: the open modal (dialogs, help, search prompt) takes every key;
 * otherwise the current screen's table, its list's table (tui_list_keys), the
 * application's global table (tui_set_app_keys), then the built-in globals (help, tabs,
 * redraw, quit).
 */
#ifndef DV_TUI_H
#define DV_TUI_H

#include <stdbool.h>
#include <stddef.h>

#include "theme.h"

enum { TUI_MIN_W = 60, TUI_MIN_H = 16 };

/* What an action / key handler returns (bits). */
enum {
    TUI_IGNORED = 0, /* not mine: keep looking */
    TUI_HANDLED = 1,
    TUI_REDRAW = 2, /* redraw everything before the next key */
    TUI_BACK = 4,   /* a modal: close me */
    TUI_QUIT = 8,   /* leave the console (asks first when a job is running) */
};

/* Key codes of our own beside curses' KEY_*. */
enum { TUI_KEY_ESC = 27, TUI_KEY_TAB = '\t', TUI_KEY_ENTER = '\n' };
#define TUI_CTRL(c) ((c)&0x1f)

/*
 * One binding. A table is an array ended by an entry with action 0. keys[] lists up to three
 * codes for the same action (unused ones 0). bar: the name shown on the function-key bar
 * after the first key's label ("F2" "Backup"), or NULL to keep it off the bar. help: the
 * line on the help screen. label: optional text replacing the key names in the help.
 */
struct tui_key {
    int keys[3];
    int action;
    const char *bar;
    const char *help;
    const char *label; /* help shows this instead of the key names ("1-N": N = the number of
                          screens); usually NULL */
};

struct tui_rect {
    int y, x, h, w;
};

struct tui;
struct tui_list;

/*
 * A screen (a tab). draw() paints body (erase is done); action() gets the action numbers of
 * its own key table (keys: the key code that triggered it) and the list's actions are
 * handled by the manager when list is set. enter() runs each time the screen is shown,
 * tick() about every 100 ms (return TUI_REDRAW to be redrawn). All but draw may be NULL.
 */
struct tui_screen {
    const char *name;
    const struct tui_key *keys;
    struct tui_list *list;
    void (*enter)(struct tui_screen *s, struct tui *t);
    void (*draw)(struct tui_screen *s, struct tui *t, struct tui_rect body);
    int (*action)(struct tui_screen *s, struct tui *t, int action, int key);
    int (*tick)(struct tui_screen *s, struct tui *t);
    void *ud;
};

/* A modal layer: dialogs, help, search prompt. key() returns flags; TUI_BACK closes it. */
struct tui_modal {
    void (*draw)(struct tui_modal *m, struct tui *t);
    int (*key)(struct tui_modal *m, struct tui *t, int ch);
    struct tui_modal *below; /* set by tui_modal_run */
};

/* ---- lifetime ---- */

/*
 * Start curses (locale, colours, keypad, 100 ms timeout, the terminal's interrupt character
 * off so that ^C is a key, signal handlers: SIGINT asks as q does, SIGTERM and SIGHUP make
 * tui_run return; an atexit() guard that restores the terminal, and a restore-then-die
 * handler for SIGSEGV/SIGABRT/SIGBUS). subtitle is shown in the title bar (copied). Returns
 * NULL with dv_err() set, before touching the terminal, when there is no usable one: stdin
 * or stdout not a terminal, TERM unset, unknown to terminfo or without cursor addressing
 * (TERM=dumb).
 */
struct tui *tui_new(const char *subtitle);
/* Restore the terminal and free t (screens are the caller's). NULL is a no-op. */
void tui_free(struct tui *t);
/* Add a screen (a tab, in order; numbered 1..9). Not owned. */
void tui_add_screen(struct tui *t, struct tui_screen *s);
/* Global bindings of the application and their handler (e.g. `t` = next theme). */
void tui_set_app_keys(struct tui *t, const struct tui_key *keys,
                      int (*action)(struct tui *t, int action, int key, void *ud), void *ud);
/* Called before quitting (q, F10, ^C, SIGINT): return what is running (a job's title) to ask
 * "cancel it and quit?" first, or NULL to quit at once. */
void tui_set_quit_check(struct tui *t, const char *(*busy)(void));
/* Called about every 100 ms (also under a modal; see tui_in_modal): background work of the
 * application, e.g. collecting a finished job. Return TUI_REDRAW to redraw. */
void tui_set_app_tick(struct tui *t, int (*fn)(struct tui *t, void *ud), void *ud);
/* True while a modal (dialog, help, prompt) is open. */
bool tui_in_modal(const struct tui *t);
/* Run until quit or SIGTERM/SIGHUP. Returns 0 (quit by the operator: q, F10, ^C, SIGINT,
 * having asked when the quit check said something runs) or the signal number. */
int tui_run(struct tui *t);

/* ---- state ---- */
struct tui_screen *tui_current(struct tui *t);
/* The number of screens (tabs). */
int tui_screen_count(const struct tui *t);
void tui_switch(struct tui *t, int index);
/* The status line: a message until the next key (printf style). */
void tui_msg(struct tui *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A standing hint on the status line ("Enter opens the document, F7 recovers ..."), shown
 * while there is no message. It is cleared before each draw: a screen sets it from draw(). */
void tui_hint(struct tui *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Set the status line and draw at once (outside tui_run: "cancelling the job ..."). */
void tui_status_now(struct tui *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Redraw everything before the next key. */
void tui_invalidate(struct tui *t);
/* True when the terminal and locale take UTF-8 (else box drawing is ASCII). */
bool tui_utf8(void);

/* ---- dialogs (modal: run their own loop on top of the current screen) ---- */

/* Run m until it returns TUI_BACK. Returns 0, or -1 if the console is quitting (a signal, or
 * the quit question answered yes under this modal: ^C works in every dialog). */
int tui_modal_run(struct tui *t, struct tui_modal *m);
/* Message and error dialogs (Enter/Esc close). The text is wrapped. */
void tui_message(struct tui *t, const char *title, const char *text);
void tui_error(struct tui *t, const char *title, const char *text);
/* Yes/No, default No (Enter on No, Esc, n). Returns true only for an explicit yes. */
bool tui_confirm(struct tui *t, const char *title, const char *text);
/* One-line text input; returns the text (malloc'd) or NULL when cancelled (Esc). */
char *tui_input(struct tui *t, const char *title, const char *prompt, const char *initial);
/*
 * A scrolling view of n text lines (not copied) under an optional column header. With pick,
 * a cursor starts on initial and Enter returns its index; Esc/q return -1 (a plain view
 * always returns -1). Up/Down/PgUp/PgDn/Space/g/G scroll. A plain view wraps its lines to
 * the box (continuations indented under the line, 2 columns further) and starts with line
 * initial at the top (or as low as the end allows): nothing is ever cut. A picker cuts.
 */
int tui_view(struct tui *t, const char *title, const char *header, char *const *lines, int n,
             int initial, bool pick);
/* Lines (malloc'd) made by tui_wrap; release with tui_lines_free. */
struct tui_lines {
    char **v;
    int n;
};
/*
 * Word-wrap text (newlines start paragraphs) to w display columns, appending to l: breaks at
 * spaces, a word wider than w is broken where it must; continuation lines are indented by
 * hang columns (at most w / 2). Control bytes and invalid UTF-8 come out escaped (\xNN), as
 * tui_put shows them. Returns the lines added.
 */
int tui_wrap(const char *text, int w, int hang, struct tui_lines *l);
void tui_lines_free(struct tui_lines *l);
/* The help screen for the current screen (also bound to ? and F1). */
void tui_help(struct tui *t);
/* The key tables help is generated from: the console's own, and the application's. */
const struct tui_key *tui_global_keys(void);
const struct tui_key *tui_app_keys(const struct tui *t);

/* ---- drawing helpers for screens and widgets ---- */

/* Draw at most w columns of s at (y, x) with element e; pads with spaces to w when pad.
 * UTF-8 aware. Returns the columns drawn. */
int tui_put(int y, int x, int w, const char *s, enum theme_elem e, bool pad);
/* Like tui_put, right-aligned in w columns. */
int tui_put_right(int y, int x, int w, const char *s, enum theme_elem e);
/* Display width of s in columns (invalid bytes count 1). */
int tui_width(const char *s);
/* Fill a rectangle with spaces in element e. */
void tui_fill(struct tui_rect r, enum theme_elem e);
/* A box (UTF-8 lines or ASCII +-|) with an optional title. */
void tui_box(struct tui_rect r, enum theme_elem e, const char *title);
/*
 * A job's progress in r (2 rows used, 3 when r.h allows): phase and item; a bar with the
 * percentage (bytes when known, else items); items, bytes, rate and ETA (job_rate at now).
 */
struct dv_progress;
void tui_progress_draw(struct tui_rect r, const struct dv_progress *p, double now);
/* The figures line of the progress widget: "12/340 items  1.2 GiB/3.0 GiB  45 MiB/s  ETA 0:40". */
void tui_progress_text(const struct dv_progress *p, double now, char *buf, size_t n);
/* Percentage done (0..100), or -1 when no total is known. */
int tui_progress_percent(const struct dv_progress *p);

/* Label of a key code as shown on the bar and in help ("F2", "Up", "Tab", "^L", "q"). */
const char *tui_key_name(int key, char *buf, size_t n);

#endif
