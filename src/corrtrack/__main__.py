from corrtrack.cli import main

main()
