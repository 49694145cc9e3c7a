/* console.c - placeholder status screen until the console lands (issue 5). */
#include <curses.h>
#include <locale.h>
#include <stdio.h>

#include "cli.h"
#include "dbglob.h"
#include "util.h"

int console_main(struct dv_config *cfg)
{
    char **dbs = NULL;
    size_t ndb = 0;
    if (dbglob_list(cfg, &dbs, &ndb) != 0)
        ndb = 0;
    setlocale(LC_ALL, "");
    if (!initscr())
        return cli_fail(DV_EXIT_FAIL, "cannot start the console: no terminal");
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    for (;;) {
        erase();
        mvprintw(0, 0, "dvault - backup and recovery console");
        mvprintw(2, 2, "config      %s", cfg->path);
        mvprintw(3, 2, "data dir    %s", cfg->server.data_dir);
        mvprintw(4, 2, "databases   %zu", ndb);
        mvprintw(5, 2, "DAOS dir    %s", cfg->server.daos_dir);
        mvprintw(6, 2, "target      %s", cfg->backup.target);
        mvprintw(7, 2, "catalog     %s", cfg->catalog);
        mvprintw(LINES - 1, 0, "q Quit");
        refresh();
        int c = getch();
        if (c == 'q' || c == 'Q' || c == ERR)
            break;
    }
    endwin();
    dbglob_free(dbs);
    return 0;
}
