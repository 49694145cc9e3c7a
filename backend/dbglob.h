/*
 * dbglob.h - which files under the server data directory are databases.
 *
 * server.databases is a list of globs relative to data_dir: `*` and `?` and `[...]` match
 * within one path component, `**` as a whole component matches zero or more directories
 * ("**" + "/" + "*.nsf" matches "a.nsf" and "mail/alice.nsf"). The DAOS directory, hidden
 * names (starting with '.', which is how dvault and the store name temporary files) and
 * anything that is not a regular file are never matched; symbolic links are never followed
 * (dbglob_list_ex names those an operator should hear about). Nothing in the restore folder
 * (restore.dir, config.h) is ever matched or listed: restored copies are not server databases,
 * so backup, archive, status, resync and every other enumeration skip them.
 */
#ifndef DV_DBGLOB_H
#define DV_DBGLOB_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

bool dbglob_match(const char *pattern, const char *relpath);
/* True if relpath (relative to data_dir) is the restore folder or below it. */
bool dbglob_in_restore(const struct dv_config *cfg, const char *relpath);
/* True if relpath matches any of cfg's globs (and is not in the restore folder). */
bool dbglob_match_any(const struct dv_config *cfg, const char *relpath);

/* Sorted list of matching paths relative to data_dir (malloc'd array of malloc'd strings,
 * NULL-terminated). Returns 0 or -1 (data_dir unreadable). */
int dbglob_list(const struct dv_config *cfg, char ***out, size_t *count);
/*
 * dbglob_list, and in *refused (may be NULL; NULL-terminated, free with dbglob_free) what it
 * leaves out that an operator must hear about, one line each ("mail/x.nsf: a symbolic link
 * (never followed: not backed up)"): a name the globs match that is a symbolic link, FIFO,
 * socket or device, and a symbolic link to a directory where the globs reach into one ("mail"
 * when a glob is "mail/NAME.nsf" with a wildcard NAME, or starts with "**"). Links are never
 * followed (only stat'ed to tell a directory).
 */
int dbglob_list_ex(const struct dv_config *cfg, char ***out, size_t *count, char ***refused);
void dbglob_free(char **list);

/* Resolve a database PATH argument: relative to data_dir as the server names it, or
 * absolute. Returns malloc'd absolute path; *rel gets the path relative to data_dir when it
 * is below it (malloc'd) or NULL. */
char *dbglob_resolve(const struct dv_config *cfg, const char *path, char **rel);

#endif
