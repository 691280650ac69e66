#include "layout.h"
int main(void)
{
    print_netlink();
    print_vfio();
    print_shm();
    return 0;
}
