/*
 * theme.c - theme files (libyaml document API) and their use on the terminal.
 *
 * Errors follow the configuration's convention: one line "FILE:LINE:COL: message" with
 * libyaml's 1-based marks. A theme only overrides what it names; the rest is built in.
 */
#include "theme.h"

#include <curses.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "config.h"
#include "util.h"

#define THEME_NAME_(e, n) n,
static const char *const elem_names[TH_COUNT] = {THEME_ELEMENTS(THEME_NAME_)};
#undef THEME_NAME_

const char *theme_elem_name(enum theme_elem e)
{
    return (unsigned)e < TH_COUNT ? elem_names[e] : "?";
}

#define D THEME_DEFAULT_COLOR
/* Built-in theme: identical to themes/default.yaml. */
static const struct theme_style builtin[TH_COUNT] = {
    [TH_TITLE] = {COLOR_BLACK, COLOR_CYAN, 0},
    [TH_TAB] = {D, D, 0},
    [TH_TAB_ACTIVE] = {COLOR_BLACK, COLOR_GREEN, THA_BOLD},
    [TH_HEADER] = {COLOR_BLACK, COLOR_GREEN, 0},
    [TH_TEXT] = {D, D, 0},
    [TH_DIM] = {COLOR_BLUE + 8, D, 0},
    [TH_SELECTED] = {COLOR_BLACK, COLOR_CYAN, 0},
    [TH_OK] = {COLOR_GREEN, D, 0},
    [TH_WARNING] = {COLOR_YELLOW, D, THA_BOLD},
    [TH_ERROR] = {COLOR_RED, D, THA_BOLD},
    [TH_PROGRESS] = {COLOR_BLACK, COLOR_GREEN, 0},
    [TH_PROGRESS_BG] = {D, COLOR_BLUE, 0},
    [TH_BORDER] = {COLOR_CYAN, D, 0},
    [TH_KEY] = {D, D, 0},
    [TH_KEY_LABEL] = {COLOR_BLACK, COLOR_CYAN, 0},
    [TH_DIALOG] = {COLOR_BLACK, COLOR_WHITE, 0},
    [TH_DIALOG_TITLE] = {COLOR_BLUE, COLOR_WHITE, THA_BOLD},
    [TH_BANNER] = {COLOR_WHITE, COLOR_RED, THA_BOLD},
    [TH_STATUS] = {D, D, 0},
    [TH_INPUT] = {COLOR_WHITE, COLOR_BLUE, 0},
};
#undef D

/* Attributes that stand in for colours on a terminal without them. */
static const unsigned mono[TH_COUNT] = {
    [TH_TITLE] = THA_REVERSE,
    [TH_TAB_ACTIVE] = THA_REVERSE | THA_BOLD,
    [TH_HEADER] = THA_BOLD | THA_UNDERLINE,
    [TH_DIM] = THA_DIM,
    [TH_SELECTED] = THA_REVERSE,
    [TH_WARNING] = THA_BOLD,
    [TH_ERROR] = THA_BOLD,
    [TH_PROGRESS] = THA_REVERSE,
    [TH_KEY_LABEL] = THA_REVERSE,
    [TH_DIALOG_TITLE] = THA_BOLD,
    [TH_BANNER] = THA_REVERSE | THA_BOLD,
    [TH_INPUT] = THA_UNDERLINE,
};

static const struct {
    const char *name;
    unsigned bit;
} attr_names[] = {
    {"bold", THA_BOLD},           {"dim", THA_DIM},           {"reverse", THA_REVERSE},
    {"underline", THA_UNDERLINE}, {"standout", THA_STANDOUT}, {NULL, 0},
};

static const char *const color_names[8] = {"black", "red",     "green", "yellow",
                                           "blue",  "magenta", "cyan",  "white"};

void theme_builtin(struct theme *t)
{
    memset(t, 0, sizeof *t);
    t->name = dv_strdup("default");
    memcpy(t->st, builtin, sizeof t->st);
}

void theme_done(struct theme *t)
{
    if (!t)
        return;
    free(t->name);
    t->name = NULL;
}

/* ---- loading ---- */

struct tload {
    const char *file;
    yaml_document_t *doc;
    struct theme *t;
};

static int node_err(struct tload *l, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int node_err(struct tload *l, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dv_seterr("%s:%zu:%zu: %s", l->file, n->start_mark.line + 1, n->start_mark.column + 1, msg);
    return -1;
}

static int parse_color(struct tload *l, const yaml_node_t *v, const char *where, short *out)
{
    if (v->type != YAML_SCALAR_NODE)
        return node_err(l, v, "%s must be a colour name or a number 0-255", where);
    const char *s = (const char *)v->data.scalar.value;
    if (strcmp(s, "default") == 0) {
        *out = THEME_DEFAULT_COLOR;
        return 0;
    }
    long n;
    if (s[0] >= '0' && s[0] <= '9') {
        if (dv_parse_long(s, 0, 1L << 30, &n) != 0)
            return node_err(l, v, "%s: '%s' is not a colour number", where, s);
        if (n > 255)
            return node_err(l, v, "%s: colour %ld out of range 0..255", where, n);
        *out = (short)n;
        return 0;
    }
    const char *base = s;
    int bright = 0;
    if (strncmp(s, "bright_", 7) == 0) {
        base = s + 7;
        bright = 8;
    }
    for (int i = 0; i < 8; i++)
        if (strcmp(base, color_names[i]) == 0) {
            *out = (short)(i + bright);
            return 0;
        }
    return node_err(l, v,
                    "%s: unknown colour '%s' (default, black, red, green, yellow, blue, "
                    "magenta, cyan, white, bright_<colour>, or 0-255)",
                    where, s);
}

static int parse_attr_name(struct tload *l, const yaml_node_t *v, const char *where, unsigned *bits)
{
    if (v->type != YAML_SCALAR_NODE)
        return node_err(l, v, "%s must be an attribute name or a list of them", where);
    const char *s = (const char *)v->data.scalar.value;
    for (int i = 0; attr_names[i].name; i++)
        if (strcmp(s, attr_names[i].name) == 0) {
            *bits |= attr_names[i].bit;
            return 0;
        }
    return node_err(l, v, "%s: unknown attribute '%s' (bold, dim, reverse, underline, standout)",
                    where, s);
}

static int parse_attrs(struct tload *l, const yaml_node_t *v, const char *where, unsigned *out)
{
    unsigned bits = 0;
    if (v->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++) {
            yaml_node_t *a = yaml_document_get_node(l->doc, *it);
            if (!a || parse_attr_name(l, a, where, &bits) != 0)
                return -1;
        }
    } else if (v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0) {
        bits = 0; /* attrs: "" = none */
    } else if (parse_attr_name(l, v, where, &bits) != 0) {
        return -1;
    }
    *out = bits;
    return 0;
}

static int dup_key(struct tload *l, const yaml_node_t *map, const yaml_node_pair_t *p,
                   const char *key)
{
    for (const yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
        yaml_node_t *qk = yaml_document_get_node(l->doc, q->key);
        if (qk && qk->type == YAML_SCALAR_NODE &&
            strcmp((const char *)qk->data.scalar.value, key) == 0)
            return 1;
    }
    return 0;
}

static int load_element(struct tload *l, enum theme_elem e, const yaml_node_t *map)
{
    const char *en = elem_names[e];
    if (map->type != YAML_MAPPING_NODE)
        return node_err(l, map,
                        "'%s' must be a mapping like { fg: white, bg: blue, attrs: [bold] }", en);
    struct theme_style st = l->t->st[e];
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(l->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(l->doc, p->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE)
            return node_err(l, k ? k : map, "keys of '%s' must be plain names", en);
        const char *key = (const char *)k->data.scalar.value;
        if (dup_key(l, map, p, key))
            return node_err(l, k, "duplicate key '%s' in '%s'", key, en);
        char where[96];
        snprintf(where, sizeof where, "%s.%s", en, key);
        int rc;
        if (strcmp(key, "fg") == 0)
            rc = parse_color(l, v, where, &st.fg);
        else if (strcmp(key, "bg") == 0)
            rc = parse_color(l, v, where, &st.bg);
        else if (strcmp(key, "attrs") == 0)
            rc = parse_attrs(l, v, where, &st.attrs);
        else
            rc = node_err(l, k, "unknown key '%s' in '%s' (known: fg, bg, attrs)", key, en);
        if (rc != 0)
            return -1;
    }
    l->t->st[e] = st;
    return 0;
}

static int load_root(struct tload *l, const yaml_node_t *root)
{
    if (root->type != YAML_MAPPING_NODE)
        return node_err(l, root,
                        "a theme must be a mapping of elements (title: {fg: ..., bg: ...})");
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(l->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(l->doc, p->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE)
            return node_err(l, k ? k : root, "element names must be plain names");
        const char *key = (const char *)k->data.scalar.value;
        if (dup_key(l, root, p, key))
            return node_err(l, k, "duplicate element '%s'", key);
        int e = -1;
        for (int i = 0; i < TH_COUNT; i++)
            if (strcmp(elem_names[i], key) == 0)
                e = i;
        if (e < 0) {
            char known[512] = "";
            for (int i = 0; i < TH_COUNT; i++) {
                size_t n = strlen(known);
                snprintf(known + n, sizeof known - n, "%s%s", i ? ", " : "", elem_names[i]);
            }
            return node_err(l, k, "unknown element '%s' (known: %s)", key, known);
        }
        if (load_element(l, (enum theme_elem)e, v) != 0)
            return -1;
    }
    return 0;
}

static char *name_of(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 5 && strcmp(b + n - 5, ".yaml") == 0)
        n -= 5;
    char *s = dv_malloc(n + 1);
    memcpy(s, b, n);
    s[n] = 0;
    return s;
}

int theme_load(const char *path, struct theme *t)
{
    theme_builtin(t);
    free(t->name);
    t->name = name_of(path);
    FILE *f = fopen(path, "rb");
    struct stat sb;
    if (f && fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        f = NULL;
        errno = EISDIR;
    }
    if (!f) {
        dv_seterr("%s:1:1: cannot read theme: %s", path, strerror(errno));
        return -1;
    }
    if (dv_yaml_depth_check(f, path, DV_YAML_DEPTH_MAX) != 0) {
        fclose(f);
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        if (ferror(f))
            dv_seterr("%s:1:1: cannot read theme: %s", path, strerror(errno));
        else
            dv_seterr("%s:%zu:%zu: %s%s%s", path, parser.problem_mark.line + 1,
                      parser.problem_mark.column + 1,
                      parser.problem ? parser.problem : "syntax error", parser.context ? " " : "",
                      parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }
    struct tload l = {.file = path, .doc = &doc, .t = t};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc = 0;
    if (root && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0))
        rc = load_root(&l, root);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

/* ---- locating themes ---- */

char *theme_dir(const struct dv_config *cfg)
{
    if (cfg && cfg->base_dir) {
        char *d = dv_path_join(cfg->base_dir, "themes");
        struct stat sb;
        if (stat(d, &sb) == 0 && S_ISDIR(sb.st_mode))
            return d;
        free(d);
    }
    return dv_strdup(DV_THEMES_DIR);
}

char *theme_path(const struct dv_config *cfg, const char *name)
{
    size_t n = strlen(name);
    bool has_ext = n > 5 && strcmp(name + n - 5, ".yaml") == 0;
    if (strchr(name, '/')) {
        const char *base = cfg && cfg->base_dir ? cfg->base_dir : ".";
        return has_ext ? dv_path_join(base, name) : dv_asprintf("%s/%s.yaml", base, name);
    }
    char *dir = theme_dir(cfg);
    char *p = dv_asprintf("%s/%s%s", dir, name, has_ext ? "" : ".yaml");
    free(dir);
    return p;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int theme_list(const char *dir, char ***names, size_t *count)
{
    DIR *d = opendir(dir);
    if (!d) {
        dv_syserr("%s", dir);
        return -1;
    }
    size_t n = 0, cap = 8;
    char **v = dv_calloc(cap, sizeof(char *));
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len <= 5 || strcmp(de->d_name + len - 5, ".yaml") != 0)
            continue;
        if (n + 2 > cap) {
            cap *= 2;
            v = dv_realloc(v, cap * sizeof(char *));
        }
        v[n++] = name_of(de->d_name);
    }
    closedir(d);
    v[n] = NULL;
    qsort(v, n, sizeof(char *), cmp_str);
    *names = v;
    *count = n;
    return 0;
}

void theme_list_free(char **names)
{
    if (!names)
        return;
    for (size_t i = 0; names[i]; i++)
        free(names[i]);
    free(names);
}

/* ---- curses side ---- */

static enum theme_colors cur_mode = THEME_MONO;
static bool have_default_colors;
static int cur_attr[TH_COUNT];

enum theme_colors theme_mode(void)
{
    return cur_mode;
}

enum theme_colors theme_setup(void)
{
    const char *nc = getenv("NO_COLOR");
    cur_mode = THEME_MONO;
    if ((nc && *nc) || !has_colors() || start_color() == ERR || COLOR_PAIRS <= TH_COUNT)
        return cur_mode;
    have_default_colors = use_default_colors() == OK;
    cur_mode = COLORS >= 256 ? THEME_256 : COLORS >= 16 ? THEME_16 : THEME_8;
    return cur_mode;
}

/* Fold colour c onto what the terminal has; *bold set when brightness is lost. */
static short fold_color(short c, bool is_fg, bool *bold)
{
    if (c == THEME_DEFAULT_COLOR)
        return have_default_colors ? -1 : (is_fg ? COLOR_WHITE : COLOR_BLACK);
    if (c < (short)cur_mode)
        return c;
    if (c < 16) { /* bright on an 8-colour terminal */
        if (is_fg)
            *bold = true;
        return (short)(c - 8);
    }
    if (c >= 232) /* grey ramp */
        return c < 244 ? COLOR_BLACK : COLOR_WHITE;
    int r = (c - 16) / 36, g = ((c - 16) / 6) % 6, b = (c - 16) % 6;
    if (is_fg && (r >= 4 || g >= 4 || b >= 4))
        *bold = true;
    return (short)((r >= 3 ? COLOR_RED : 0) | (g >= 3 ? COLOR_GREEN : 0) |
                   (b >= 3 ? COLOR_BLUE : 0));
}

static int curses_attrs(unsigned bits)
{
    int a = A_NORMAL;
    if (bits & THA_BOLD)
        a |= A_BOLD;
    if (bits & THA_DIM)
        a |= A_DIM;
    if (bits & THA_REVERSE)
        a |= A_REVERSE;
    if (bits & THA_UNDERLINE)
        a |= A_UNDERLINE;
    if (bits & THA_STANDOUT)
        a |= A_STANDOUT;
    return a;
}

void theme_use(const struct theme *t)
{
    for (int e = 0; e < TH_COUNT; e++) {
        const struct theme_style *s = &t->st[e];
        if (cur_mode == THEME_MONO) {
            cur_attr[e] = curses_attrs(s->attrs | mono[e]);
            continue;
        }
        bool bold = false;
        short fg = fold_color(s->fg, true, &bold);
        short bg = fold_color(s->bg, false, &bold);
        init_pair((short)(e + 1), fg, bg);
        cur_attr[e] = (int)COLOR_PAIR(e + 1) | curses_attrs(s->attrs | (bold ? THA_BOLD : 0));
    }
}

int theme_attr(enum theme_elem e)
{
    return (unsigned)e < TH_COUNT ? cur_attr[e] : (int)A_NORMAL;
}
