#include "layout.h"
int main(void)
{
    print_netlink();
    print_vfio();
    return 0;
}
