/* placeholder: replaced by the store branch */
#include <stdio.h>
int main(void)
{
    fprintf(stderr, "dvload: not built yet\n");
    return 1;
}
