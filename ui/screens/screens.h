/*
 * screens.h - what the console's screens share with console.c (private to the console).
 *
 * console.c keeps the handles (configuration, the console thread's catalog and store, the
 * theme), the global keys and the main loop. Each screen lives in its own file in
 * ui/screens/ with its own state struct, which begins with a struct con_screen: the tui
 * vtable (tui.h) plus the two hooks the console calls on every screen. A screen reaches
 * another only through the few functions declared here (e.g. Databases' `m` asks Recovery
 * to list a database's missing NLOs). actions.c holds the job adapters: each long operation
 * a screen starts (backup, restore, resync, verify, prune, listnlo, recover, document copy)
 * as a conjob (conjob.h) on the worker thread, and the dialogs several screens share.
 */
#ifndef DV_SCREENS_H
#define DV_SCREENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "theme.h"
#include "tui.h"
#include "tui_list.h"

struct catalog;
struct dv_store;
struct restore_result;

/* The tabs, in order (tui_switch takes these indexes). */
enum {
    CON_OVERVIEW,
    CON_DATABASES,
    CON_SETS,
    CON_OBJECTS,
    CON_RECOVERY,
    CON_JOBS,
    CON_RESTORED, /* last: the restore folder's copies */
    CON_NSCREENS
};

/* A growable array of strings. */
struct strv {
    char **v;
    size_t n, cap;
};
void strv_add(struct strv *s, char *str); /* takes str */
void strv_free(struct strv *s);

struct console;

/* One screen: the tui vtable (tui.ud points to the screen's state, which begins with this)
 * and what the console asks of every screen. */
struct con_screen {
    struct tui_screen tui;
    struct console *c;
    /* A job ended and the handles were closed: read again what it may have changed (only
     * what was loaded). May be NULL. */
    void (*job_done)(struct con_screen *s);
    /* Free the screen's state (its lists and sources). */
    void (*free)(struct con_screen *s);
};

struct console {
    struct dv_config *cfg;
    struct tui *tui;
    struct theme theme;
    char *themes_dir;
    /* the console thread's handles (lazily opened, closed after each job): con_catalog,
     * con_store */
    struct catalog *cat;
    struct dv_store *st;
    struct con_screen *screen[CON_NSCREENS];
    /* what a finished job leaves for the console thread (shown when it is collected) */
    struct strv *post_lines;
    char post_title[256];
    char post_resync[600]; /* non-empty: offer a resync with this reason */
    bool resync_declined;  /* the offer after a document copy was declined: not asked again in
                              this session (the status line says it instead) */
    /* what to do once the collected job's message and view are done (NULL: nothing); called
     * once by the console thread with post_arg, which it takes (e.g. the question after a
     * preview, which may start the next job) */
    void (*post_fn)(struct console *c, struct tui *t, void *arg);
    void *post_arg;
};

/* ---- console.c: the handles ---- */

/* The catalog, opened when its file exists. NULL with *none = true when there is no catalog
 * yet (no backup has run), NULL with *none = false and dv_err() on a real error. */
struct catalog *con_catalog(struct console *c, bool *none);
/* The store (the live DAOS index and repository); NULL with dv_err(). Never creates the
 * server's data directory. */
struct dv_store *con_store(struct console *c);
/* A server without DAOS: an NLO action says so (on the message line when t) and does
 * nothing. */
bool con_no_daos(struct console *c, struct tui *t);
/* Lines (taken) to show in a view with title when the running job has been collected. */
void con_post(struct console *c, struct strv *lines, const char *title);
/* Draw the screen's list in the whole body. */
void con_list_draw(struct tui_screen *s, struct tui *t, struct tui_rect b);
/* qsort comparison of two char * (strcmp order). */
int con_cmp_str(const void *a, const void *b);
/* Keys of lists newest first: INT64_MAX - seq, zero-padded, and back. */
void con_seq_key(int64_t seq, char key[TUI_KEY_MAX]);
int64_t con_key_seq(const char *key);

/* ---- actions.c: the jobs the screens start, and the dialogs they share ---- */

/* True (and said on the message line) when a job runs: a second one waits. */
bool con_busy(struct tui *t);
void con_start_backup(struct console *c, struct tui *t, const char *glob, bool incremental);
/* Asks first; why (may be NULL) is said before the question. True when it started. */
bool con_start_resync(struct console *c, struct tui *t, const char *why);
/* DAOS prune (asks first). */
void con_start_daos_prune(struct console *c, struct tui *t);
/* Prune of the backup sets (the caller has shown the preview and asked). */
void con_start_prune(struct console *c, struct tui *t);
void con_start_verify(struct console *c, struct tui *t, const char *set_id);
/* Choose a complete set holding db (newest first). Returns the set id (malloc'd) or NULL
 * (cancelled, or an error already shown). */
char *con_pick_set(struct console *c, struct tui *t, const char *db, const char *title);
/* Ask for a restore's new name and check it at once (see actions.c). Returns the name
 * (malloc'd; "" = the restore folder, named after the set) or NULL (cancelled or refused:
 * said so); *force when an earlier restored copy may be replaced. */
char *con_ask_into(struct console *c, struct tui *t, const char *db, const char *title,
                   bool *force);
/* A restore as a job (into "": the restore folder); flow: for the guided single-document flow
 * (Recovery lists the documents of the copy when it ends: recovery_restored). */
void con_start_restore(struct console *c, struct tui *t, const char *db, const char *set,
                       const char *into, bool force, bool replace_live, bool flow);
/* What a restore warns about, in one line ("" when nothing). */
void con_restore_warnings(const struct restore_result *r, long ddays, char *buf, size_t n);
/* listnlo missing of db as a job; Recovery shows the names (recovery_show_missing). */
void con_start_listnlo(struct console *c, struct tui *t, const char *db);
/* recover_nlos as a job: the names in list_file (taken; a temp file removed afterwards), or
 * the NLOs of document unid of the database db. */
void con_start_recover_list(struct console *c, struct tui *t, char *list_file, size_t n);
void con_start_recover_doc(struct console *c, struct tui *t, const char *db, const char *unid);
/* recover_doc_copy as a job (force: the operator confirmed another database). */
void con_start_doccopy(struct console *c, struct tui *t, const char *from, const char *unid,
                       const char *live, bool force);

/* ---- bringback.c: every deleted document of a restored copy back into the live database ---- */

/* Recovery's B / F11 on a restored copy's documents: the origin check, the filter dialog, then
 * the preview (docrestore_run dry run) as a job; its end asks (naming the live database) and
 * runs the restore as a job, whose end shows what came back. True when the preview started
 * (Recovery shows its progress: recovery_bringback). nmarked: the list's marked documents. */
bool con_bringback_start(struct console *c, struct tui *t, const char *from, const char *db,
                         uint64_t nmarked);

/* objects.c: the id of the set with seq seq ("20261129-154357"), "a pruned set" when the
 * catalog no longer has it. */
void con_set_name(struct console *c, int64_t seq, char *buf, size_t n);

/* ---- the screens ---- */

struct con_screen *overview_new(struct console *c);
struct con_screen *databases_new(struct console *c);
struct con_screen *sets_new(struct console *c);
struct con_screen *objects_new(struct console *c);
struct con_screen *recovery_new(struct console *c);
struct con_screen *jobs_new(struct console *c);
struct con_screen *restored_new(struct console *c);

/* The database under the cursor on the Databases screen, or NULL. */
const char *databases_selected(struct console *c);
/* Recovery: list these names (taken) as the missing NLOs and show the screen. */
void recovery_show_missing(struct console *c, struct strv *names, const char *title);
/* Recovery: the guided flow's restore ended (ok or not): list the copy's documents. */
void recovery_restored(struct console *c, bool ok, const char *db, const char *set,
                       const char *into, const char *warn);
/* Recovery: NLOs were recovered (doc: one document's): read what changed. */
void recovery_recovered(struct console *c, bool doc);
/* Recovery: document unid was copied into the live database. */
void recovery_copied(struct console *c, const char *unid);
/* Recovery: bringing back deleted documents: busy non-NULL: a job of it runs (its progress on
 * the screen, busy says which); NULL: it ended, the documents listed again and compared with
 * the live database (the marks and the header counted again). */
void recovery_bringback(struct console *c, const char *busy);

#endif
