from agorabench.cli import main

main()
