/* VFIO numbers: linux/vfio.h. iommufd.h and the VFIO cdev ioctls are newer than Debian 12's 6.1 headers:
 * their values are pinned in the tests from the upstream header instead. */
#include "layout.h"
#include <linux/vfio.h>
void print_vfio(void)
{
    P(VFIO_GET_API_VERSION);
}
