using System.Text;
using static Tmds.Linux.LibC;

namespace RoceUio.Hardware.Vfio;

/// <summary>open/ioctl/close for the VFIO and iommufd character devices, with errors that name the file and the ioctl.</summary>
internal static unsafe class VfioFile
{
    public static int Open(string path, string what)
    {
        byte[] p = Encoding.UTF8.GetBytes(path + "\0");
        int fd;
        fixed (byte* pp = p)
            fd = open(pp, O_RDWR | O_CLOEXEC, 0);
        if (fd < 0)
        {
            int e = errno;
            throw new HardwareAccessException(e switch
            {
                2 => $"{path} is missing ({what})",
                13 or 1 => $"{path}: {Errno.Describe(e)}: opening {what} needs root (or a udev rule giving you the device)",
                16 => $"{path} is busy: another process (a VM, DPDK, another roceuio) already holds {what}",
                _ => $"{path}: cannot open {what}: {Errno.Describe(e)}",
            });
        }
        return fd;
    }

    /// <summary>ioctl with a pointer argument; returns its non-negative result or throws naming the ioctl.</summary>
    public static int Ioctl(int fd, int request, void* arg, string path, string name)
    {
        int r = ioctl(fd, request, arg);
        if (r < 0)
            throw Failure(errno, path, name);
        return r;
    }

    /// <summary>ioctl with an integer argument passed by value (CHECK_EXTENSION, SET_IOMMU).</summary>
    public static int IoctlValue(int fd, int request, int arg, string path, string name)
    {
        int r = ioctl(fd, request, arg);
        if (r < 0)
            throw Failure(errno, path, name);
        return r;
    }

    public static HardwareAccessException Failure(int e, string path, string name)
        => new(e == 25 /* ENOTTY */
            ? $"{path}: {name} failed: {Errno.Describe(e)}: not a VFIO/iommufd device node or the kernel does not know this ioctl"
            : $"{path}: {name} failed: {Errno.Describe(e)}");

    public static void Close(ref int fd)
    {
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
}
