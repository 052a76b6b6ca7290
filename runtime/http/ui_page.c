#include "ui_page.h"

/* The assembler takes the file in as it is; the Makefile rebuilds this object when the page changes (its path is
   from the top of the tree, where make runs the compiler). */
__asm__(".section .rodata\n"
        ".balign 16\n"
        "gale__ui_page_start:\n"
        ".incbin \"runtime/http/ui/index.html\"\n"
        "gale__ui_page_end:\n"
        ".byte 0\n"
        ".previous\n");

extern const char gale__ui_page_start[], gale__ui_page_end[];

const char *gale_ui_page(size_t *len)
{
    *len = (size_t)(gale__ui_page_end - gale__ui_page_start);
    return gale__ui_page_start;
}
