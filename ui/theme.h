/*
 * theme.h - the console's colour themes: semantic elements mapped to colours and attributes.
 *
 * A theme file (themes/NAME.yaml, libyaml) is a mapping of element names to
 *     { fg: COLOUR, bg: COLOUR, attrs: [bold, reverse, underline, dim, standout] }
 * where COLOUR is default, black, red, green, yellow, blue, magenta, cyan, white, their
 * bright_ variants (bright_red ...), or a number 0-255. Every key is optional; an element
 * the file leaves out keeps the built-in default (the same as themes/default.yaml).
 *
 * Drawing code never uses COLOR_PAIR numbers: it calls theme_attr(TH_ELEMENT). The curses
 * half (theme_setup, theme_use, theme_attr) adapts one theme to the terminal: 256 colours,
 * 8/16 colours (higher numbers folded onto the nearest basic colour), or none (TERM without
 * colours, or NO_COLOR set): then only attributes are used, and each element gets a built-in
 * attribute (selected = reverse, header = bold ...) so the screen stays readable.
 */
#ifndef DV_THEME_H
#define DV_THEME_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#ifndef DV_THEMES_DIR
#define DV_THEMES_DIR "/usr/local/share/dvault/themes"
#endif

/* X-macro: element, name in theme files. */
#define THEME_ELEMENTS(X)                                                                          \
    X(TH_TITLE, "title")                                                                           \
    X(TH_TAB, "tab")                                                                               \
    X(TH_TAB_ACTIVE, "tab_active")                                                                 \
    X(TH_HEADER, "header")                                                                         \
    X(TH_TEXT, "text")                                                                             \
    X(TH_DIM, "dim")                                                                               \
    X(TH_SELECTED, "selected")                                                                     \
    X(TH_OK, "ok")                                                                                 \
    X(TH_WARNING, "warning")                                                                       \
    X(TH_ERROR, "error")                                                                           \
    X(TH_PROGRESS, "progress")                                                                     \
    X(TH_PROGRESS_BG, "progress_bg")                                                               \
    X(TH_BORDER, "border")                                                                         \
    X(TH_KEY, "key")                                                                               \
    X(TH_KEY_LABEL, "key_label")                                                                   \
    X(TH_DIALOG, "dialog")                                                                         \
    X(TH_DIALOG_TITLE, "dialog_title")                                                             \
    X(TH_BANNER, "banner")                                                                         \
    X(TH_STATUS, "status")                                                                         \
    X(TH_INPUT, "input")

#define THEME_ENUM_(e, n) e,
enum theme_elem { THEME_ELEMENTS(THEME_ENUM_) TH_COUNT };
#undef THEME_ENUM_

/* Attribute bits (ours, not curses'; theme_attr translates). */
enum {
    THA_BOLD = 1,
    THA_DIM = 2,
    THA_REVERSE = 4,
    THA_UNDERLINE = 8,
    THA_STANDOUT = 16,
};

#define THEME_DEFAULT_COLOR (-1)

struct theme_style {
    short fg, bg;   /* THEME_DEFAULT_COLOR or 0..255 */
    unsigned attrs; /* THA_* bits */
};

struct theme {
    char *name; /* file name without ".yaml" (malloc'd), "default" for the built-in one */
    struct theme_style st[TH_COUNT];
};

/* Name of an element as written in theme files ("tab_active"). */
const char *theme_elem_name(enum theme_elem e);

/* The built-in theme (name "default"). Call theme_done() when finished. */
void theme_builtin(struct theme *t);

/*
 * Load a theme file over the built-in defaults. Returns 0, or -1 with dv_err() =
 * "FILE:LINE:COL: message" (1-based): YAML syntax error, unknown element, unknown key,
 * unknown colour or attribute, colour out of range, wrong node type, duplicate element, or
 * "FILE:1:1: cannot read theme: REASON". t is initialised either way (call theme_done).
 */
int theme_load(const char *path, struct theme *t);

void theme_done(struct theme *t);

/* The themes directory: <cfg->base_dir>/themes when it is a directory, else DV_THEMES_DIR
 * (malloc'd). */
char *theme_dir(const struct dv_config *cfg);

/* Path of theme NAME: NAME (".yaml" optional) in theme_dir(); a NAME containing '/' is a
 * path relative to cfg->base_dir. malloc'd; the file may not exist (theme_load says so). */
char *theme_path(const struct dv_config *cfg, const char *name);

/* Sorted names (without ".yaml") of the themes in dir, NULL-terminated, malloc'd; free with
 * theme_list_free. Returns 0, or -1 when dir cannot be read. */
int theme_list(const char *dir, char ***names, size_t *count);
void theme_list_free(char **names);

/* ---- curses side (after initscr) ---- */

enum theme_colors { THEME_MONO = 0, THEME_8 = 8, THEME_16 = 16, THEME_256 = 256 };

/* Start colours as the terminal and the environment allow (NO_COLOR, has_colors, COLORS).
 * Returns the mode chosen. */
enum theme_colors theme_setup(void);
/* Make t the current theme (init_pair for every element). t must outlive its use. */
void theme_use(const struct theme *t);
/* The curses attributes (colour pair + attributes) to draw element e with. */
int theme_attr(enum theme_elem e);
/* The mode theme_setup chose. */
enum theme_colors theme_mode(void);

#endif
