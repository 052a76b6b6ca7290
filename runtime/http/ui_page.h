/*
 * ui_page.h: the web UI, one self-contained page (ui/index.html: its script and styles inline, nothing from
 * elsewhere), built into the binary so that a running gale serves it at / with no files beside it.
 */
#ifndef GALE_UI_PAGE_H
#define GALE_UI_PAGE_H

#include <stddef.h>

/* The page's bytes (static). */
const char *gale_ui_page(size_t *len);

#endif
