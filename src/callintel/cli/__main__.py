from callintel.cli import main

raise SystemExit(main())
