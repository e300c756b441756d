from artver.entry import main

main()
