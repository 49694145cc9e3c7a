/*
 * tui.c - screen manager, layout, key dispatch and drawing helpers (dialogs and help:
 * tui_dialog.c).
 *
 * Everything on screen is redrawn from state by draw_all() (title, tabs, the screen's body,
 * status line, function-key bar, then the open modals bottom-up); curses sends only what
 * changed. The terminal is restored on every way out: tui_free, signals (the handler only
 * sets a flag, the loop returns), exit() (atexit guard) and crashes (restore, re-raise).
 *
 * Ctrl-C: the terminal's interrupt character is turned off while the console runs, so ^C
 * arrives as a key (and never as a SIGINT to the whole process group: the hooks a job runs
 * keep running); it is the quit key, asking first while a job runs. A SIGINT sent by kill
 * does the same (its handler sets a flag the loops act on). SIGTERM and SIGHUP end the loops
 * (tui_run returns the signal): the console cancels its job and leaves.
 */
#include "tui.h"

#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termcap.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "tui_list.h"
#include "util.h"

#define TUI_MAX_SCREENS 9
#define TUI_HIST 20

struct tui {
    struct tui_screen *screens[TUI_MAX_SCREENS];
    int nscreens, cur;
    char *subtitle;
    char msg[1024];
    char hint[512]; /* shown when msg is empty (set by the screen's draw) */
    /* the last status messages, whole (M shows them): a ring, hist_n ever added */
    char hist[TUI_HIST][1024];
    time_t hist_time[TUI_HIST];
    unsigned hist_n;
    char shown[1024]; /* what the status line showed at the last draw */
    bool redraw, quit;
    bool asking_quit; /* the quit question is open: ^C and SIGINT do not ask it again */
    time_t clock_drawn;
    const struct tui_key *app_keys;
    int (*app_action)(struct tui *t, int action, int key, void *ud);
    void *app_ud;
    const char *(*busy)(void);
    int (*app_tick)(struct tui *t, void *ud);
    void *app_tick_ud;
    struct tui_modal *modal; /* top of the modal stack */
    SCREEN *scr;
    /* where the tabs and the bar's items were drawn (mouse): x from, x to (excluded) */
    int tab_x[TUI_MAX_SCREENS][2];
    struct {
        int x0, x1, key;
    } bar_hit[33];
    int nbar_hit;
    int bar_page;    /* the function-key bar's page shown (F12 turns it) */
    bool mouse;      /* the terminal reports the mouse (mousemask) and it is not opted out */
    double click_at; /* the last left press: when and where (double-click) */
    int click_y, click_x;
};

static volatile sig_atomic_t got_signal; /* SIGTERM or SIGHUP: leave */
static volatile sig_atomic_t got_int;    /* SIGINT: ask, as q does */
static bool curses_on;
static bool utf8;
static bool guard_installed;

/* ---- terminal restore on every path ---- */

static void restore_terminal(void)
{
    if (curses_on && !isendwin())
        endwin();
}

static void on_quit_signal(int sig)
{
    got_signal = sig;
}

static void on_int_signal(int sig)
{
    (void)sig;
    got_int = 1;
}

static void on_fatal_signal(int sig)
{
    /* not async-signal-safe, but the process is dying and a dead terminal is worse */
    restore_terminal();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    /* SA_RESTART: the job's worker thread may take the signal in a read or write; the loops
     * wake every 100 ms (getch's timeout) and look at the flags */
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = on_int_signal;
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_quit_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGABRT, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
}

static void reset_signals(void)
{
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
}

bool tui_utf8(void)
{
    return utf8;
}

/*
 * Is this a terminal the console can draw on: stdin and stdout are terminals, and TERM names
 * a terminfo entry with cursor addressing (cup; termcap's cm). TERM=dumb, unknown, unset or
 * a hardcopy entry is refused here, before curses touches the terminal.
 */
static int check_terminal(void)
{
    static const char use[] = "use the commands (dvault help) instead";
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        dv_seterr("the console needs a terminal (%s is not one): %s",
                  isatty(STDIN_FILENO) ? "stdout" : "stdin", use);
        return -1;
    }
    const char *term = getenv("TERM");
    if (!term || !*term) {
        dv_seterr("the console needs a terminal with cursor addressing (TERM is not set): %s", use);
        return -1;
    }
    char area[2048], *ap = area;
    int found = tgetent(NULL, term);
    const char *cm = found == 1 ? tgetstr("cm", &ap) : NULL;
    if (found != 1)
        dv_seterr("the console needs a terminal with cursor addressing (TERM=%s%s): %s", term,
                  found == 0 ? ": not in the terminfo database" : ": no terminfo database", use);
    else if (!cm || !*cm)
        dv_seterr("the console needs a terminal with cursor addressing (TERM=%s): %s", term, use);
    return found == 1 && cm && *cm ? 0 : -1;
}

/* The terminal's interrupt character (^C) off: ^C reaches getch() as a key. Kept as the
 * program mode (def_prog_mode) so that a resume after ^Z keeps it; endwin() restores the
 * shell's modes, ^C included. */
static void intr_key_off(void)
{
    struct termios tio;
    if (tcgetattr(STDIN_FILENO, &tio) != 0)
        return;
    tio.c_cc[VINTR] = _POSIX_VDISABLE;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &tio) == 0)
        def_prog_mode();
}

struct tui *tui_new(const char *subtitle)
{
    setlocale(LC_ALL, "");
    utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    if (check_terminal() != 0)
        return NULL;
    const char *term = getenv("TERM");
    SCREEN *scr = newterm(NULL, stdout, stdin);
    if (!scr) {
        dv_seterr("cannot start the console on TERM=%s", term ? term : "(unset)");
        return NULL;
    }
    struct tui *t = dv_calloc(1, sizeof *t);
    t->scr = scr;
    t->subtitle = dv_strdup(subtitle ? subtitle : "");
    curses_on = true;
    if (!guard_installed) {
        atexit(restore_terminal);
        guard_installed = true;
    }
    got_signal = got_int = 0;
    install_signals();
    set_escdelay(25);
    cbreak();
    noecho();
    intr_key_off();
    keypad(stdscr, TRUE);
    timeout(100);
    curs_set(0);
    /* the mouse: off where the terminal has none (mousemask gives 0) and with
     * DVAULT_NO_MOUSE=1 (a captured mouse stops the terminal's own text selection; most
     * terminals select with Shift+drag anyway). ncurses makes clicks and double-clicks of
     * presses and releases (a burst of reports read at once is one event: raw presses would
     * be lost); two clicks on the same cell within 0.4 s are a double-click too. */
    const char *nm = getenv("DVAULT_NO_MOUSE");
    if (!(nm && *nm && strcmp(nm, "0") != 0)) {
        mmask_t want = BUTTON1_CLICKED | BUTTON1_DOUBLE_CLICKED | BUTTON4_PRESSED | BUTTON5_PRESSED;
        t->mouse = mousemask(want, NULL) != 0;
    }
    t->redraw = true;
    return t;
}

void tui_free(struct tui *t)
{
    if (!t)
        return;
    if (t->mouse)
        mousemask(0, NULL);
    restore_terminal();
    curses_on = false;
    reset_signals();
    delscreen(t->scr);
    free(t->subtitle);
    free(t);
}

void tui_add_screen(struct tui *t, struct tui_screen *s)
{
    if (t->nscreens < TUI_MAX_SCREENS)
        t->screens[t->nscreens++] = s;
}

void tui_set_app_keys(struct tui *t, const struct tui_key *keys,
                      int (*action)(struct tui *t, int action, int key, void *ud), void *ud)
{
    t->app_keys = keys;
    t->app_action = action;
    t->app_ud = ud;
}

void tui_set_quit_check(struct tui *t, const char *(*busy)(void))
{
    t->busy = busy;
}

void tui_set_app_tick(struct tui *t, int (*fn)(struct tui *t, void *ud), void *ud)
{
    t->app_tick = fn;
    t->app_tick_ud = ud;
}

bool tui_in_modal(const struct tui *t)
{
    return t->modal != NULL;
}

int tui_screen_count(const struct tui *t)
{
    return t->nscreens;
}

struct tui_screen *tui_current(struct tui *t)
{
    return t->nscreens ? t->screens[t->cur] : NULL;
}

void tui_switch(struct tui *t, int index)
{
    if (index < 0 || index >= t->nscreens)
        return;
    t->cur = index;
    t->bar_page = 0;
    struct tui_screen *s = t->screens[index];
    if (s->enter)
        s->enter(s, t);
    t->redraw = true;
}

void tui_hint(struct tui *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->hint, sizeof t->hint, fmt, ap);
    va_end(ap);
}

/* Keep the message in the history (M) unless it repeats the last one. */
static void hist_add(struct tui *t, const char *m)
{
    if (!m[0] || (t->hist_n && strcmp(t->hist[(t->hist_n - 1) % TUI_HIST], m) == 0))
        return;
    snprintf(t->hist[t->hist_n % TUI_HIST], sizeof t->hist[0], "%s", m);
    t->hist_time[t->hist_n++ % TUI_HIST] = time(NULL);
}

/* M: the status line now, then the last messages, newest first, whole (wrapped). */
static void show_messages(struct tui *t, const char *now)
{
    char *l[TUI_HIST + 3];
    int n = 0;
    l[n++] = dv_asprintf(" Status line now: %s", now[0] ? now : "(empty)");
    l[n++] = dv_strdup("");
    for (unsigned i = 0; i < TUI_HIST && i < t->hist_n; i++) {
        unsigned k = (t->hist_n - 1 - i) % TUI_HIST;
        struct tm tm;
        char when[16];
        localtime_r(&t->hist_time[k], &tm);
        strftime(when, sizeof when, "%H:%M:%S", &tm);
        l[n++] = dv_asprintf(" %s %s", when, t->hist[k]);
    }
    if (t->hist_n == 0)
        l[n++] = dv_strdup(" (no messages yet)");
    tui_view(t, "Last messages (newest first)", NULL, l, n, 0, false);
    for (int i = 0; i < n; i++)
        free(l[i]);
}

void tui_msg(struct tui *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->msg, sizeof t->msg, fmt, ap);
    va_end(ap);
    hist_add(t, t->msg);
    t->redraw = true;
}

void tui_invalidate(struct tui *t)
{
    t->redraw = true;
}

/* ---- drawing helpers ---- */

/*
 * Copy at most w columns of s into out; returns columns. Every string the console draws passes
 * here (tui_put): control bytes, C1 controls and invalid UTF-8 are shown as \xNN (dv_escape:
 * set messages, database paths, subjects come from files and the catalog), and what the
 * locale cannot show (unassigned, not in its charset) as '?'.
 */
static int clip(const char *raw, int w, char *out, size_t outn, size_t *outlen)
{
    char s[4096];
    dv_escape(raw, s, sizeof s);
    mbstate_t st;
    memset(&st, 0, sizeof st);
    size_t o = 0;
    int cols = 0;
    size_t len = strlen(s);
    size_t i = 0;
    while (i < len && cols < w && o + 8 < outn) {
        wchar_t wc;
        size_t n = mbrtowc(&wc, s + i, len - i, &st);
        int cw;
        if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
            memset(&st, 0, sizeof st);
            out[o++] = '?';
            cols++;
            i++;
            continue;
        }
        cw = wcwidth(wc);
        if (cw < 0 || wc < 32) {
            out[o++] = '?';
            cols++;
            i += n;
            continue;
        }
        if (cols + cw > w)
            break;
        memcpy(out + o, s + i, n);
        o += n;
        cols += cw;
        i += n;
    }
    out[o] = 0;
    *outlen = o;
    return cols;
}

int tui_width(const char *s)
{
    char buf[4096];
    size_t n;
    return clip(s, 1 << 20, buf, sizeof buf, &n);
}

int tui_put(int y, int x, int w, const char *s, enum theme_elem e, bool pad)
{
    if (w <= 0 || y < 0 || y >= LINES || x >= COLS)
        return 0;
    if (x + w > COLS)
        w = COLS - x;
    char buf[4096];
    size_t n;
    int cols = clip(s ? s : "", w, buf, sizeof buf, &n);
    attrset(theme_attr(e));
    mvaddstr(y, x, buf);
    if (pad)
        for (int i = cols; i < w; i++)
            addch(' ');
    attrset(A_NORMAL);
    return pad ? w : cols;
}

int tui_put_right(int y, int x, int w, const char *s, enum theme_elem e)
{
    int sw = tui_width(s);
    if (sw >= w)
        return tui_put(y, x, w, s, e, true);
    tui_put(y, x, w - sw, "", e, true);
    tui_put(y, x + w - sw, sw, s, e, false);
    return w;
}

void tui_fill(struct tui_rect r, enum theme_elem e)
{
    for (int i = 0; i < r.h; i++)
        tui_put(r.y + i, r.x, r.w, "", e, true);
}

void tui_box(struct tui_rect r, enum theme_elem e, const char *title)
{
    if (r.h < 2 || r.w < 2)
        return;
    /* UTF-8 line drawing as characters (not the terminal's alternate charset), ASCII else */
    const char *h = utf8 ? "\u2500" : "-", *v = utf8 ? "\u2502" : "|";
    const char *c[4] = {utf8 ? "\u250c" : "+", utf8 ? "\u2510" : "+", utf8 ? "\u2514" : "+",
                        utf8 ? "\u2518" : "+"};
    attrset(theme_attr(e));
    for (int i = 1; i < r.w - 1; i++) {
        mvaddstr(r.y, r.x + i, h);
        mvaddstr(r.y + r.h - 1, r.x + i, h);
    }
    for (int i = 1; i < r.h - 1; i++) {
        mvaddstr(r.y + i, r.x, v);
        mvaddstr(r.y + i, r.x + r.w - 1, v);
    }
    mvaddstr(r.y, r.x, c[0]);
    mvaddstr(r.y, r.x + r.w - 1, c[1]);
    mvaddstr(r.y + r.h - 1, r.x, c[2]);
    if (r.y + r.h - 1 != LINES - 1 || r.x + r.w != COLS)
        mvaddstr(r.y + r.h - 1, r.x + r.w - 1, c[3]);
    attrset(A_NORMAL);
    if (title && *title && r.w > 6) {
        char tb[256];
        snprintf(tb, sizeof tb, " %s ", title);
        tui_put(r.y, r.x + 2, r.w - 4, tb, e == TH_DIALOG ? TH_DIALOG_TITLE : e, false);
    }
}

const char *tui_key_name(int key, char *buf, size_t n)
{
    static const struct {
        int key;
        const char *name;
    } names[] = {
        {KEY_UP, "Up"},       {KEY_DOWN, "Down"},   {KEY_LEFT, "Left"},
        {KEY_RIGHT, "Right"}, {KEY_NPAGE, "PgDn"},  {KEY_PPAGE, "PgUp"},
        {KEY_HOME, "Home"},   {KEY_END, "End"},     {TUI_KEY_TAB, "Tab"},
        {KEY_BTAB, "S-Tab"},  {TUI_KEY_ESC, "Esc"}, {TUI_KEY_ENTER, "Enter"},
        {KEY_ENTER, "Enter"}, {' ', "Space"},       {KEY_BACKSPACE, "Bksp"},
        {KEY_DC, "Del"},      {KEY_IC, "Ins"},      {0, NULL},
    };
    for (int i = 0; names[i].name; i++)
        if (names[i].key == key) {
            snprintf(buf, n, "%s", names[i].name);
            return buf;
        }
    if (key >= KEY_F(1) && key <= KEY_F(24))
        snprintf(buf, n, "F%d", key - KEY_F(0));
    else if (key > 0 && key < 32)
        snprintf(buf, n, "^%c", key + '@');
    else if (key >= 32 && key < 127)
        snprintf(buf, n, "%c", key);
    else
        snprintf(buf, n, "#%d", key);
    return buf;
}

/* ---- built-in global keys ---- */

enum { G_HELP = 1, G_NEXT, G_PREV, G_SCREEN, G_REDRAW, G_QUIT, G_MESSAGES, G_MORE };

static const struct tui_key global_keys[] = {
    {{KEY_F(1), '?', 'h'}, G_HELP, "Help", "Help: the keys of this screen", NULL},
    {{'1', '2', '3'}, G_SCREEN, NULL, "Go to screen N (the numbers on the tab bar)", "1-N"},
    {{'4', '5', '6'}, G_SCREEN, NULL, NULL, NULL},
    {{'7', '8', '9'}, G_SCREEN, NULL, NULL, NULL},
    {{TUI_KEY_TAB, KEY_RIGHT}, G_NEXT, NULL, "Next screen", NULL},
    {{KEY_BTAB, KEY_LEFT}, G_PREV, NULL, "Previous screen", NULL},
    {{TUI_CTRL('L')}, G_REDRAW, NULL, "Redraw the whole terminal", NULL},
    {{'M'}, G_MESSAGES, NULL, "The status line and the last messages in full (wrapped)", NULL},
    {{KEY_F(12)},
     G_MORE,
     NULL,
     "The function-key bar's next page (when its keys do not fit: the bar ends in F12 More)",
     NULL},
    {{KEY_F(10), 'q', TUI_CTRL('C')},
     G_QUIT,
     "Quit",
     "Quit (a running job: asks, then cancels it); also SIGINT",
     NULL},
    {{'Q'}, G_QUIT, NULL, NULL, NULL},
    {{0}, 0, NULL, NULL, NULL},
};

static const struct tui_key *lookup(const struct tui_key *tab, int ch)
{
    for (; tab && tab->action; tab++)
        for (int i = 0; i < 3 && tab->keys[i]; i++)
            if (tab->keys[i] == ch)
                return tab;
    return NULL;
}

static bool too_small(void)
{
    return COLS < TUI_MIN_W || LINES < TUI_MIN_H;
}

/* ---- drawing the frame ---- */

static void draw_title(struct tui *t)
{
    tui_put(0, 0, COLS, "", TH_TITLE, true);
    tui_put(0, 1, 7, "dvault", TH_TITLE, false);
    char clk[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(clk, sizeof clk, "%Y-%m-%d %H:%M:%S", &tm);
    t->clock_drawn = now;
    int cw = (int)strlen(clk);
    tui_put(0, 9, COLS - 9 - cw - 2, t->subtitle, TH_TITLE, false);
    tui_put(0, COLS - cw - 1, cw, clk, TH_TITLE, false);
}

/* The tab bar: " 1 Name " tabs one space apart; tighter when the terminal is narrow, then
 * the longest names cut (to no less than 3 letters) so that every tab shows. */
static void draw_tabs(struct tui *t)
{
    tui_put(1, 0, COLS, "", TH_TAB, true);
    int n = t->nscreens, names = 0, longest = 0;
    for (int i = 0; i < n; i++) {
        int w = tui_width(t->screens[i]->name);
        names += w;
        longest = w > longest ? w : longest;
    }
    int pad = 1, gap = 1, cut = longest;
    if (names + 4 * n + (n - 1) > COLS)
        gap = 0;
    if (names + 4 * n > COLS)
        pad = 0, gap = 1;
    for (; cut > 3; cut--) { /* "1 Name" + gap each, names cut to cut columns */
        int tot = 0;
        for (int i = 0; i < n; i++) {
            int w = tui_width(t->screens[i]->name);
            tot += (w < cut ? w : cut) + 2 + 2 * pad + gap;
        }
        if (tot - gap <= COLS)
            break;
    }
    int x = 0;
    for (int i = 0; i < n && x < COLS; i++) {
        char tb[64];
        snprintf(tb, sizeof tb, "%s%d ", pad ? " " : "", i + 1);
        int x0 = x;
        enum theme_elem e = i == t->cur ? TH_TAB_ACTIVE : TH_TAB;
        x += tui_put(1, x, COLS - x, tb, e, false);
        x += tui_put(1, x, cut < COLS - x ? cut : COLS - x, t->screens[i]->name, e, false);
        if (pad)
            x += tui_put(1, x, COLS - x, " ", e, false);
        t->tab_x[i][0] = x0;
        t->tab_x[i][1] = x;
        x += gap;
    }
}

struct bar_item {
    const struct tui_key *k;
    int order;
};

static void bar_collect(const struct tui_key *tab, struct bar_item *items, int *n, int max,
                        int base)
{
    for (int i = 0; tab && tab[i].action && *n < max; i++) {
        if (!tab[i].bar)
            continue;
        int k = tab[i].keys[0];
        items[*n].k = &tab[i];
        items[*n].order = (k >= KEY_F(1) && k <= KEY_F(24)) ? k - KEY_F(0) : base + i;
        (*n)++;
    }
}

static int cmp_bar(const void *a, const void *b)
{
    return ((const struct bar_item *)a)->order - ((const struct bar_item *)b)->order;
}

/* The bar's items of the screen now (global, screen, list, application), in F-key order. */
static int bar_items(struct tui *t, struct bar_item *items, int max)
{
    struct tui_screen *s = tui_current(t);
    int n = 0;
    bar_collect(global_keys, items, &n, max, 100);
    if (s) {
        bar_collect(s->keys, items, &n, max, 200);
        if (s->list)
            bar_collect(tui_list_keys, items, &n, max, 300);
    }
    bar_collect(t->app_keys, items, &n, max, 400);
    qsort(items, (size_t)n, sizeof items[0], cmp_bar);
    return n;
}

static int bar_width(const struct bar_item *it, bool padded)
{
    char kn[16];
    int lw = tui_width(it->k->bar);
    return tui_width(tui_key_name(it->k->keys[0], kn, sizeof kn)) + (padded && lw < 6 ? 6 : lw) + 1;
}

static bool bar_pinned(const struct bar_item *it)
{
    return it->k >= global_keys && it->k < global_keys + sizeof global_keys / sizeof global_keys[0];
}

/*
 * The function-key bar: htop-style "F1Help  F2Backup ..." with 6-column labels; when that is
 * too wide, labels are not padded; when that is still too wide, the bar has pages: F1 Help
 * and F10 Quit on each, the screen's keys spread over them, each page ending in "F12More1/2"
 * (F12 or a click turns the page, the last back to the first), so that no key is left out. Returns
 * the number of pages; starts[p] is the index of page p's first item that is not pinned.
 */
static int bar_pages(const struct bar_item *items, int n, bool *padded, int *starts, int max)
{
    static const int more_w = 12; /* "F12More1/2 " */
    for (int pass = 0; pass < 2; pass++) {
        *padded = pass == 0;
        int total = 0;
        for (int i = 0; i < n; i++)
            total += bar_width(&items[i], *padded);
        if (total - 1 <= COLS) {
            starts[0] = 0;
            return 1;
        }
    }
    int pinned = 0;
    for (int i = 0; i < n; i++)
        if (bar_pinned(&items[i]))
            pinned += bar_width(&items[i], false);
    int np = 0, i = 0;
    while (i < n && np < max) {
        starts[np++] = i;
        int x = pinned, rest = pinned;
        for (int k = i; k < n; k++)
            if (!bar_pinned(&items[k]))
                rest += bar_width(&items[k], false);
        if (rest - 1 + more_w <= COLS)
            break; /* the last page (its "More" goes back to the first) */
        int placed = 0;
        for (; i < n; i++) {
            if (bar_pinned(&items[i]))
                continue;
            int w = bar_width(&items[i], false);
            if (placed && x + w + more_w - 1 > COLS)
                break;
            x += w;
            placed++;
        }
    }
    return np;
}

static void bar_put_item(struct tui *t, int *x, int key, const char *label)
{
    int y = LINES - 1, x0 = *x;
    char kn[16];
    tui_key_name(key, kn, sizeof kn);
    *x += tui_put(y, *x, COLS - *x, kn, TH_KEY, false);
    *x += tui_put(y, *x, COLS - *x, label, TH_KEY_LABEL, false);
    *x += tui_put(y, *x, COLS - *x, " ", TH_KEY, false);
    if (t->nbar_hit < (int)(sizeof t->bar_hit / sizeof t->bar_hit[0])) {
        t->bar_hit[t->nbar_hit].x0 = x0;
        t->bar_hit[t->nbar_hit].x1 = *x;
        t->bar_hit[t->nbar_hit++].key = key;
    }
}

static void draw_bar(struct tui *t)
{
    struct bar_item items[32];
    int n = bar_items(t, items, 32), starts[32];
    bool padded;
    int np = bar_pages(items, n, &padded, starts, 32);
    if (t->bar_page >= np)
        t->bar_page = 0;
    int p = t->bar_page, from = starts[p], to = p + 1 < np ? starts[p + 1] : n;
    int x = 0;
    t->nbar_hit = 0;
    tui_put(LINES - 1, 0, COLS, "", TH_KEY, true);
    for (int i = 0; i < n && x < COLS; i++) {
        if (np > 1 && !bar_pinned(&items[i]) && (i < from || i >= to))
            continue;
        char lb[32];
        snprintf(lb, sizeof lb, padded ? "%-6s" : "%s", items[i].k->bar);
        bar_put_item(t, &x, items[i].k->keys[0], lb);
    }
    if (np > 1) {
        char lb[32];
        snprintf(lb, sizeof lb, "More%d/%d", p + 1, np);
        bar_put_item(t, &x, KEY_F(12), COLS - x >= 12 ? lb : "More");
    }
}

static void draw_modals(struct tui *t, struct tui_modal *m)
{
    if (!m)
        return;
    draw_modals(t, m->below);
    m->draw(m, t);
}

static void draw_all(struct tui *t)
{
    erase();
    if (too_small()) {
        char b[80];
        snprintf(b, sizeof b, "terminal too small (%dx%d, need %dx%d)", COLS, LINES, TUI_MIN_W,
                 TUI_MIN_H);
        int w = (int)strlen(b);
        int x = COLS > w ? (COLS - w) / 2 : 0;
        tui_put(LINES / 2, x, COLS - x, b, TH_WARNING, false);
        refresh();
        t->redraw = false;
        return;
    }
    draw_title(t);
    draw_tabs(t);
    struct tui_rect body = {2, 0, LINES - 4, COLS};
    struct tui_screen *s = tui_current(t);
    t->hint[0] = 0;
    if (s && s->draw)
        s->draw(s, t, body);
    const char *st = t->msg[0] ? t->msg : t->hint;
    snprintf(t->shown, sizeof t->shown, "%s", st);
    tui_put(LINES - 2, 0, COLS, st, TH_STATUS, true);
    if (tui_width(st) > COLS) /* cut: say where the whole text is */
        tui_put_right(LINES - 2, COLS - 9, 9, utf8 ? " \u2026 M:all" : " ...M:all", TH_STATUS);
    draw_bar(t);
    draw_modals(t, t->modal);
    refresh();
    t->redraw = false;
}

void tui_status_now(struct tui *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->msg, sizeof t->msg, fmt, ap);
    va_end(ap);
    hist_add(t, t->msg);
    if (curses_on && !isendwin())
        draw_all(t);
}

/* ---- key dispatch ---- */

/* q, F10, ^C, SIGINT: with a job running, ask (No is the default); else quit. */
static int quit_requested(struct tui *t)
{
    const char *job = t->busy ? t->busy() : NULL;
    if (job) {
        char q[300];
        snprintf(q, sizeof q, "A job is running (%s): cancel it and quit?", job);
        t->asking_quit = true;
        bool yes = tui_confirm(t, "Quit", q);
        t->asking_quit = false;
        if (!yes)
            return TUI_REDRAW;
    }
    t->quit = true;
    return TUI_QUIT;
}

/* ^C under a modal, or a SIGINT anywhere: the quit key's question (not twice). */
static void interrupt(struct tui *t)
{
    got_int = 0;
    if (!t->asking_quit)
        quit_requested(t);
    t->redraw = true;
}

static int global_action(struct tui *t, int action, int ch)
{
    switch (action) {
    case G_HELP:
        tui_help(t);
        return TUI_REDRAW;
    case G_NEXT:
        tui_switch(t, (t->cur + 1) % t->nscreens);
        return TUI_REDRAW;
    case G_PREV:
        tui_switch(t, (t->cur + t->nscreens - 1) % t->nscreens);
        return TUI_REDRAW;
    case G_SCREEN:
        if (ch - '1' >= t->nscreens)
            return TUI_IGNORED;
        tui_switch(t, ch - '1');
        return TUI_REDRAW;
    case G_REDRAW:
        clearok(curscr, TRUE);
        return TUI_REDRAW;
    case G_QUIT:
        return quit_requested(t);
    case G_MESSAGES:
        show_messages(t, t->shown);
        return TUI_REDRAW;
    case G_MORE: {
        struct bar_item items[32];
        int n = bar_items(t, items, 32), starts[32];
        bool padded;
        int np = bar_pages(items, n, &padded, starts, 32);
        t->bar_page = np > 1 ? (t->bar_page + 1) % np : 0;
        if (np <= 1)
            tui_msg(t, "every key is on the bar (F1 lists them all)");
        return TUI_REDRAW;
    }
    }
    return TUI_IGNORED;
}

static void dispatch(struct tui *t, int ch);

/* A left press: on a tab (switch), a bar item (its key), the screen's list (header: sort,
 * row: cursor; the same row again within 0.4 s: Enter); the wheel scrolls the list. */
static void mouse_event(struct tui *t)
{
    MEVENT e;
    if (getmouse(&e) != OK || too_small())
        return;
    t->msg[0] = 0;
    t->redraw = true;
    struct tui_screen *s = tui_current(t);
    struct tui_list *l = s ? s->list : NULL;
    int rc = 0;
    if (e.bstate & (BUTTON4_PRESSED | BUTTON5_PRESSED)) {
        if (l && l->src)
            rc = e.bstate & BUTTON4_PRESSED ? tui_list_up(l, 3) : tui_list_down(l, 3);
        if (rc != 0)
            tui_error(t, "Error", dv_err());
        return;
    }
    if (!(e.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED | BUTTON1_DOUBLE_CLICKED)))
        return;
    double now = dv_mono();
    bool dbl = (e.bstate & BUTTON1_DOUBLE_CLICKED) ||
               (e.y == t->click_y && e.x == t->click_x && now - t->click_at < 0.4);
    t->click_at = dbl ? 0 : now;
    t->click_y = e.y;
    t->click_x = e.x;
    if (e.y == 1) {
        for (int i = 0; i < t->nscreens; i++)
            if (e.x >= t->tab_x[i][0] && e.x < t->tab_x[i][1])
                tui_switch(t, i);
        return;
    }
    if (e.y == LINES - 1) {
        for (int i = 0; i < t->nbar_hit; i++)
            if (e.x >= t->bar_hit[i].x0 && e.x < t->bar_hit[i].x1) {
                dispatch(t, t->bar_hit[i].key);
                return;
            }
        return;
    }
    if (!l || !l->src)
        return;
    rc = tui_list_click(l, e.y, e.x);
    if (rc < 0)
        tui_msg(t, "%s", dv_err());
    else if (rc == 2 && dbl)
        dispatch(t, TUI_KEY_ENTER);
}

static void dispatch(struct tui *t, int ch)
{
    if (ch == KEY_MOUSE) {
        mouse_event(t);
        return;
    }
    if (ch == KEY_RESIZE) {
        clearok(curscr, TRUE);
        t->redraw = true;
        return;
    }
    if (too_small()) {
        const struct tui_key *k = lookup(global_keys, ch);
        if (k && (k->action == G_QUIT || k->action == G_REDRAW))
            global_action(t, k->action, ch);
        return;
    }
    t->msg[0] = 0;
    t->redraw = true; /* the message line changed at least */
    struct tui_screen *s = tui_current(t);
    const struct tui_key *k;
    int r = TUI_IGNORED;
    if (s && (k = lookup(s->keys, ch)) && s->action)
        r = s->action(s, t, k->action, ch);
    if (!r && s && s->list && (k = lookup(tui_list_keys, ch)))
        r = tui_list_action(t, s->list, k->action, ch);
    if (!r && (k = lookup(t->app_keys, ch)) && t->app_action)
        r = t->app_action(t, k->action, ch, t->app_ud);
    if (!r && (k = lookup(global_keys, ch)))
        r = global_action(t, k->action, ch);
    if (r & TUI_QUIT)
        t->quit = true;
}

static void tick(struct tui *t)
{
    if (time(NULL) != t->clock_drawn)
        t->redraw = true;
    struct tui_screen *s = tui_current(t);
    if (s && s->tick && (s->tick(s, t) & TUI_REDRAW))
        t->redraw = true;
    if (t->app_tick && (t->app_tick(t, t->app_tick_ud) & TUI_REDRAW))
        t->redraw = true;
}

/*
 * getch() with unknown escape sequences swallowed: a terminal (or tmux) may send keys the
 * terminfo entry does not know (F8 on a vt100 entry, \e[4~ for End); delivered byte by byte
 * they would act as '[', '4', '~'. Returns -2 for such a sequence, else the key.
 */
static int read_key(void)
{
    int ch = getch();
    if (ch != TUI_KEY_ESC)
        return ch;
    timeout(0);
    int c2 = getch();
    if (c2 == '[' || c2 == 'O') {
        int c = getch();
        if (c2 == '[')
            while (c != ERR && !(c >= 0x40 && c <= 0x7e))
                c = getch();
        timeout(100);
        return -2;
    }
    if (c2 != ERR)
        ungetch(c2);
    timeout(100);
    return TUI_KEY_ESC;
}

/*
 * DV_KEYLOG=FILE (hidden, for bench/scale.sh): one line per key, "KEY MS", the time from the
 * key read to the end of the redraw it caused. Not set: nothing is measured.
 */
static FILE *keylog_file(void)
{
    static int opened;
    static FILE *f;
    if (!opened) {
        opened = 1;
        const char *p = getenv("DV_KEYLOG");
        if (p && *p)
            f = fopen(p, "a");
    }
    return f;
}

static void keylog_end(struct tui *t, int ch, double t0)
{
    FILE *f = keylog_file();
    if (!f)
        return;
    if (t->redraw)
        draw_all(t);
    fprintf(f, "%d %.3f\n", ch, (dv_mono() - t0) * 1000.0);
    fflush(f);
}

int tui_run(struct tui *t)
{
    if (t->nscreens)
        tui_switch(t, t->cur);
    while (!t->quit && !got_signal) {
        if (got_int) {
            interrupt(t);
            continue;
        }
        if (t->redraw)
            draw_all(t);
        int ch = read_key();
        if (got_signal)
            break;
        if (ch == -2)
            continue;
        if (ch == ERR) {
            tick(t);
            continue;
        }
        double t0 = keylog_file() ? dv_mono() : 0;
        dispatch(t, ch);
        keylog_end(t, ch, t0);
    }
    return got_signal ? (int)got_signal : 0;
}

/* ---- modals ---- */

int tui_modal_run(struct tui *t, struct tui_modal *m)
{
    m->below = t->modal;
    t->modal = m;
    t->redraw = true;
    int rc = 0;
    for (;;) {
        if (got_signal || t->quit) { /* leaving: every modal closes */
            rc = -1;
            break;
        }
        if (got_int) {
            interrupt(t);
            continue;
        }
        if (t->redraw)
            draw_all(t);
        int ch = read_key();
        if (got_signal) {
            rc = -1;
            break;
        }
        if (ch == -2)
            continue;
        if (ch == TUI_CTRL('C') && !t->asking_quit) {
            interrupt(t);
            continue;
        }
        if (ch == ERR) {
            tick(t);
            continue;
        }
        if (ch == KEY_RESIZE) {
            clearok(curscr, TRUE);
            t->redraw = true;
            continue;
        }
        if (too_small()) /* nothing to act on: wait for a bigger terminal */
            continue;
        if (ch == KEY_MOUSE) { /* dialogs take keys only */
            MEVENT e;
            getmouse(&e);
            continue;
        }
        double t0 = keylog_file() ? dv_mono() : 0;
        int r = m->key(m, t, ch);
        if (r & TUI_REDRAW)
            t->redraw = true;
        if (r & TUI_BACK)
            break;
        keylog_end(t, ch, t0);
    }
    t->modal = m->below;
    t->redraw = true;
    return rc;
}

const struct tui_key *tui_global_keys(void)
{
    return global_keys;
}

const struct tui_key *tui_app_keys(const struct tui *t)
{
    return t->app_keys;
}
