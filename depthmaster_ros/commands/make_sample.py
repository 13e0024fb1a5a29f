"""`depthmaster-ros make-sample OUT`: write the synthetic sample rosbag2 (camera, LiDAR, TF, GT depth; a room or,
with `--scene street`, a street), or with
`--layout NAME` a tiny evaluation dataset in that benchmark's official layout (for `depthmaster-ros evaluate`)."""


def add_arguments(parser):
    from depthmaster_ros.synthetic import layout_names, scene_names
    parser.add_argument('output', metavar='OUT', help='a .mcap or .db3 file, or a bag directory')
    parser.add_argument('--scene', choices=scene_names(), default='room', help='what the robot drives through (default room)')
    parser.add_argument('--lidar-beams', type=int, choices=(16, 32), default=32, help='LiDAR scan lines (default 32)')
    parser.add_argument('--lidar-noise', type=float, metavar='REL',
                        help="relative standard deviation of each LiDAR range (default: the scene's, room 0, street 0.01)")
    parser.add_argument('--frames', type=int, default=100, help='number of camera frames (default 100)')
    parser.add_argument('--rate', type=float, default=10.0, help='frame rate, Hz (default 10)')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--seed', type=int, default=0, help='LiDAR noise seed')
    parser.add_argument('--storage', choices=('mcap', 'sqlite3'), help='default: from OUT\'s suffix, else mcap')
    parser.add_argument('--compression', choices=('none', 'lz4', 'zstd'),
                        help='as for `depthmaster-ros bag` (default zstd; a single .db3 file: none)')
    parser.add_argument('--force', action='store_true', help='replace an existing OUT')
    parser.add_argument('--left-camera', action='store_true',
                        help='a second camera looking left (/left/...): a recorded ring for -p "cameras=[camera, left]"')
    parser.add_argument('--layout', choices=layout_names(),
                        help='write a tiny evaluation dataset in this layout into the folder OUT instead of a bag')
    parser.add_argument('--tar', action='store_true', help='with --layout: the archive as a tar file, as published')


def run(args):
    import sys

    from depthmaster_ros.synthetic import write_sample_bag

    if args.layout:
        from depthmaster_ros.synthetic import write_layout
        path = write_layout(args.layout, args.output, frames=args.frames, tar=args.tar, seed=args.seed)
        print(f'wrote {args.frames} synthetic frames: depthmaster-ros evaluate --dataset {args.layout} {path}')
        return 0
    try:
        counts = write_sample_bag(args.output, frames=args.frames, rate_hz=args.rate, width=args.width,
                                  height=args.height, seed=args.seed, force=args.force, storage=args.storage,
                                  compression=args.compression, scene=args.scene, lidar_beams=args.lidar_beams,
                                  lidar_range_noise=args.lidar_noise, left_camera=args.left_camera)
    except ValueError as error:
        print(f'depthmaster-ros make-sample: {error}', file=sys.stderr)
        return 2
    print(f'wrote {args.output}: ' + ', '.join(f'{topic} x{n}' for topic, n in counts.items()))
    return 0
